-- orders.hits is an integer about to outgrow it
CREATE TABLE orders (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    status     text NOT NULL CHECK (status IN ('paid', 'pending', 'refunded')),
    amount     integer NOT NULL,
    hits       integer,
    placed_at  timestamptz NOT NULL
);
