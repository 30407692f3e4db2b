-- A user by @username: the index ordered by id too, so `... ORDER BY id LIMIT 1` reads
-- it directly whatever the statistics say (before ANALYZE, after a bulk import, the
-- planner walked the primary key instead: 140 ms at 100k users, now under 1 ms).
DROP INDEX users_username;
CREATE INDEX users_username ON users (username_lower, id) WHERE username_lower IS NOT NULL;
