-- Request counts per key, domain and fixed window, shared by every node (PostgreSQL).
CREATE TABLE rate_limit_windows (
    bucket       TEXT    NOT NULL,
    window_start BIGINT  NOT NULL,
    count        BIGINT  NOT NULL,
    PRIMARY KEY (bucket, window_start)
);
