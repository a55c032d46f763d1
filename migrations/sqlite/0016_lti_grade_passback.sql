-- LTI grade passback (Assignment and Grade Services). A launch that carries a line item links the
-- learner's module to it; whenever something that changes what the learner scored happens, the
-- database itself puts the learner in the outbox (triggers below), and Lectern posts the module's
-- score to every linked line item, retrying with back-off while the platform is down.
CREATE TABLE lti_grade_links (
    learner_id  INTEGER NOT NULL REFERENCES learners (id) ON DELETE CASCADE,
    platform_id INTEGER NOT NULL REFERENCES lti_platforms (id) ON DELETE CASCADE,
    module_id   TEXT    NOT NULL,
    lineitem    TEXT    NOT NULL,
    user_id     TEXT    NOT NULL, -- the person's `sub` at the platform
    PRIMARY KEY (learner_id, platform_id, module_id)
);

CREATE TABLE lti_score_outbox (
    learner_id INTEGER PRIMARY KEY REFERENCES learners (id) ON DELETE CASCADE,
    due_at     INTEGER NOT NULL, -- unix seconds
    attempts   INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
);

-- A lab check run.
CREATE TRIGGER lti_score_after_check_run AFTER INSERT ON check_runs
WHEN EXISTS (SELECT 1 FROM lti_grade_links WHERE learner_id = NEW.learner_id)
BEGIN
    INSERT INTO lti_score_outbox (learner_id, due_at) VALUES (NEW.learner_id, 0)
    ON CONFLICT (learner_id) DO UPDATE SET due_at = 0, attempts = 0;
END;

-- A choice question graded on submission.
CREATE TRIGGER lti_score_after_choice AFTER INSERT ON answers
WHEN NEW.state = 'submitted' AND NEW.auto_score IS NOT NULL
     AND EXISTS (SELECT 1 FROM lti_grade_links WHERE learner_id = NEW.learner_id)
BEGIN
    INSERT INTO lti_score_outbox (learner_id, due_at) VALUES (NEW.learner_id, 0)
    ON CONFLICT (learner_id) DO UPDATE SET due_at = 0, attempts = 0;
END;

-- A grade (or regrade) of a question whose grades are released: never before release.
CREATE TRIGGER lti_score_after_released_grade AFTER INSERT ON grades
WHEN EXISTS (SELECT 1 FROM answers a JOIN grade_releases r
                 ON r.module_id = a.module_id AND r.question_id = a.question_id
             WHERE a.id = NEW.answer_id)
BEGIN
    INSERT INTO lti_score_outbox (learner_id, due_at)
    SELECT a.learner_id, 0 FROM answers a
    WHERE a.id = NEW.answer_id AND a.learner_id IN (SELECT learner_id FROM lti_grade_links)
    ON CONFLICT (learner_id) DO UPDATE SET due_at = 0, attempts = 0;
END;

-- A release, and its withdrawal: everyone graded on that question.
CREATE TRIGGER lti_score_after_release AFTER INSERT ON grade_releases
BEGIN
    INSERT INTO lti_score_outbox (learner_id, due_at)
    SELECT DISTINCT a.learner_id, 0 FROM answers a JOIN grades g ON g.answer_id = a.id
    WHERE a.module_id = NEW.module_id AND a.question_id = NEW.question_id
      AND a.learner_id IN (SELECT learner_id FROM lti_grade_links)
    ON CONFLICT (learner_id) DO UPDATE SET due_at = 0, attempts = 0;
END;

CREATE TRIGGER lti_score_after_withdrawal AFTER DELETE ON grade_releases
BEGIN
    INSERT INTO lti_score_outbox (learner_id, due_at)
    SELECT DISTINCT a.learner_id, 0 FROM answers a JOIN grades g ON g.answer_id = a.id
    WHERE a.module_id = OLD.module_id AND a.question_id = OLD.question_id
      AND a.learner_id IN (SELECT learner_id FROM lti_grade_links)
    ON CONFLICT (learner_id) DO UPDATE SET due_at = 0, attempts = 0;
END;
