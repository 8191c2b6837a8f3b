-- order-load-test (demo only): refuse to stage twice, and note QTY_ON_SO, the newest
-- document and the clock (julianday: fractions of a second) before processing.
SELECT
    (SELECT COUNT(*) FROM USER_ORDER_STAGING WHERE WOO_ORDER_ID > 9000000) AS staged_before,
    (SELECT COALESCE(SUM(QTY_ON_SO), 0) FROM IM_INV WHERE LOC_ID = 'MAIN') AS qty_on_so,
    (SELECT COALESCE(MAX(DOC_ID), 0) FROM PS_DOC_HDR) AS max_doc_id,
    julianday('now') AS started;
