-- orders.customer_id is not yet a foreign key: the playbook's foreign-key pair adds it
CREATE TABLE customers (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL,
    created_at  date NOT NULL
);

CREATE TABLE orders (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id  bigint NOT NULL,
    status       text NOT NULL CHECK (status IN ('paid', 'pending', 'refunded')),
    amount       integer NOT NULL,
    placed_at    timestamptz NOT NULL
);
