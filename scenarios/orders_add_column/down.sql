DROP INDEX orders_priority_idx;
ALTER TABLE orders DROP COLUMN priority;
