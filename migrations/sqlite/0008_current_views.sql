-- The two questions every grading query asks, written once.

-- The grade each graded answer has now: its latest revision.
CREATE VIEW current_grades AS
SELECT g.*
FROM grades g
WHERE g.revision = (SELECT max(x.revision) FROM grades x WHERE x.answer_id = g.answer_id);

-- Each learner's latest submitted version of each question.
CREATE VIEW latest_submissions AS
SELECT a.*
FROM answers a
WHERE a.state = 'submitted'
  AND a.version = (SELECT max(b.version) FROM answers b
                   WHERE b.learner_id = a.learner_id AND b.module_id = a.module_id
                     AND b.question_id = a.question_id AND b.state = 'submitted');
