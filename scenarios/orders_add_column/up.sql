-- 0042: orders get a priority
ALTER TABLE orders ADD COLUMN priority integer NOT NULL DEFAULT 0;

-- a plain CREATE INDEX blocks writes to orders for the whole build
CREATE INDEX orders_priority_idx ON orders (priority) WHERE priority > 0;

COMMENT ON COLUMN orders.priority IS 'higher ships first';
