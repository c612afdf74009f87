-- A small shop whose shape the profile tests know: skewed text and enums, NULLs, values
-- that rise (signed_up) or fall (placed_at) with insertion order, a skewed fan-out of
-- orders per customer, an index grown by inserts (looser than CREATE INDEX packs it).
SELECT setseed(0.25);
CREATE TYPE tier AS ENUM ('free', 'pro', 'enterprise');
CREATE TABLE customers (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  email text NOT NULL UNIQUE,
  country text NOT NULL,
  tier tier NOT NULL DEFAULT 'free',
  score integer,
  signed_up date NOT NULL,
  bio text
);
INSERT INTO customers (email, country, tier, score, signed_up, bio)
SELECT 'user' || g || '@example.com',
       CASE WHEN g % 10 < 5 THEN 'DE' WHEN g % 10 < 7 THEN 'FR' ELSE 'C' || (g % 97) END,
       (ARRAY['free', 'free', 'free', 'pro', 'enterprise'])[1 + g % 5]::tier,
       CASE WHEN g % 10 = 0 THEN NULL ELSE (g * 7919) % 1000 END,
       DATE '2015-01-01' + g / 20,
       CASE WHEN g % 3 = 0 THEN NULL ELSE repeat(md5(g::text), 1 + g % 3) END
FROM generate_series(1, 40000) g;
CREATE TABLE orders (
  id bigserial PRIMARY KEY,
  customer_id bigint NOT NULL REFERENCES customers,
  amount numeric(10,2) NOT NULL CHECK (amount > 0),
  status text NOT NULL CHECK (status IN ('paid', 'pending', 'refunded')),
  placed_at timestamptz NOT NULL,
  shipped_at timestamptz,
  priority smallint,
  tags text[]
);
INSERT INTO orders (customer_id, amount, status, placed_at, shipped_at, priority, tags)
SELECT 1 + floor(39999 * power(random(), 4))::bigint,
       round((1 + 500 * power(random(), 2))::numeric, 2),
       (ARRAY['paid', 'paid', 'paid', 'pending', 'refunded'])[1 + g % 5],
       TIMESTAMPTZ '2026-01-01' - g * INTERVAL '1 minute',
       CASE WHEN g % 4 = 0 THEN NULL
            ELSE TIMESTAMPTZ '2026-01-01' - g * INTERVAL '1 minute' + (g % 72) * INTERVAL '1 hour'
       END,
       CASE WHEN random() < 0.8 THEN 0 ELSE 1 + (random() * 4)::int END,
       CASE WHEN g % 3 = 0 THEN NULL
            ELSE ARRAY[(ARRAY['gift', 'promo', 'bulk', 'rush'])[1 + g % 4]]
                 || CASE WHEN g % 7 = 0 THEN ARRAY['fragile'] ELSE '{}'::text[] END
       END
FROM generate_series(1, 150000) g;
CREATE INDEX ON orders (placed_at);
ANALYZE;
