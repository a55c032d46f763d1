-- Optional grade columns per question. A link whose launch asks for them (the custom parameter
-- `lectern_grades=per-question`, which deep linking sets) and grants the line-item scope keeps the
-- course's line-item container and its resource link; Lectern creates one line item per question
-- in that container, once per resource link, and remembers it here.
ALTER TABLE lti_grade_links ADD COLUMN lineitems TEXT;
ALTER TABLE lti_grade_links ADD COLUMN resource_link_id TEXT;

CREATE TABLE lti_question_lineitems (
    platform_id      INTEGER NOT NULL REFERENCES lti_platforms (id) ON DELETE CASCADE,
    lineitems        TEXT    NOT NULL, -- the container
    resource_link_id TEXT    NOT NULL,
    module_id        TEXT    NOT NULL,
    question_id      TEXT    NOT NULL,
    lineitem         TEXT    NOT NULL,
    PRIMARY KEY (platform_id, lineitems, resource_link_id, module_id, question_id)
);

-- A written answer submitted: its question's column shows it waits for the instructor.
CREATE TRIGGER lti_score_after_written_answer AFTER INSERT ON answers
WHEN NEW.state = 'submitted' AND NEW.auto_score IS NULL
     AND EXISTS (SELECT 1 FROM lti_grade_links
                 WHERE learner_id = NEW.learner_id AND lineitems IS NOT NULL)
BEGIN
    INSERT INTO lti_score_outbox (learner_id, due_at) VALUES (NEW.learner_id, 0)
    ON CONFLICT (learner_id) DO UPDATE SET due_at = 0, attempts = 0;
END;
