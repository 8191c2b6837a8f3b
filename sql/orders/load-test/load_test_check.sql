-- order-load-test (demo only): was every synthetic order applied or rejected correctly?
-- lost: neither applied nor rejected, applied_twice: more than one document (or line
-- set) for an order, wrongly_*: a good order rejected or a bad one applied, and the
-- QTY_ON_SO raised by exactly the quantities of the documents created (the demo
-- has pending orders of its own, processed too, and they count there).
WITH t AS (
    SELECT
        s.*,
        (WOO_ORDER_ID - 9000000) % 20 IN (0, 10) AS bad,
        (SELECT COUNT(*) FROM PS_DOC_HDR h WHERE h.TKT_NO = 'WEB-' || s.WOO_ORDER_ID) AS docs,
        (SELECT COUNT(*) FROM PS_DOC_LIN l WHERE l.DOC_ID = CAST(s.CP_DOC_ID AS INTEGER)) AS lines
    FROM USER_ORDER_STAGING s
    WHERE WOO_ORDER_ID > 9000000
)
SELECT
    COUNT(*) AS staged,
    SUM(IS_APPLIED = 1) AS applied,
    SUM(IS_APPLIED = 0 AND VALIDATION_ERROR IS NOT NULL) AS rejected,
    SUM(IS_APPLIED = 0 AND VALIDATION_ERROR IS NULL) AS lost,
    SUM(docs > 1 OR lines > 1) AS applied_twice,
    SUM(IS_APPLIED = 1 AND (docs <> 1 OR lines <> 1)) AS incomplete,
    SUM(bad AND IS_APPLIED = 1) AS wrongly_applied,
    SUM(NOT bad AND IS_APPLIED = 0) AS wrongly_rejected,
    (SELECT COALESCE(SUM(QTY_ON_SO), 0) FROM IM_INV WHERE LOC_ID = 'MAIN')
        - {{ steps.before.row.qty_on_so }} AS qty_on_so_raised,
    (SELECT COALESCE(SUM(QTY_SOLD), 0) FROM PS_DOC_LIN
     WHERE DOC_ID > {{ steps.before.row.max_doc_id }}) AS qty_applied,
    ROUND((julianday('now') - {{ steps.before.row.started }}) * 86400, 2) AS seconds,
    ROUND(COUNT(*) / ((julianday('now') - {{ steps.before.row.started }}) * 86400), 1)
        AS orders_per_second
FROM t;
