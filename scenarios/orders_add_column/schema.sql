CREATE TABLE customers (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL,
    email       text NOT NULL UNIQUE,
    created_at  date NOT NULL
);

CREATE TABLE orders (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id  bigint NOT NULL REFERENCES customers (id),
    status       text NOT NULL CHECK (status IN ('paid', 'pending', 'refunded')),
    amount       integer NOT NULL,
    note         text,
    placed_at    timestamptz NOT NULL
);

CREATE INDEX orders_customer_id_idx ON orders (customer_id);
