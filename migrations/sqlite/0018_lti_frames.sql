-- A session opened by an LTI launch lives inside the learning platform's iframe: its pages may be
-- framed by these origins (space-separated, e.g. `https://school.instructure.com`). NULL for every
-- other session, whose pages nobody may frame.
ALTER TABLE sessions ADD COLUMN frame_ancestors TEXT;
