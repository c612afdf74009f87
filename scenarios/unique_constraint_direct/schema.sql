-- orders.reference holds unique values, not yet backed by a constraint
CREATE TABLE orders (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    reference  text NOT NULL,
    status     text NOT NULL CHECK (status IN ('paid', 'pending', 'refunded')),
    amount     integer NOT NULL,
    amount_cents bigint,
    placed_at  timestamptz NOT NULL
);
