-- order-processing: create the CounterPoint document of one claimed order, as
-- sp_CreateOrderFromStaging and sp_CreateOrderLines do (sql/orders/processing/process_create.sql).
INSERT INTO PS_DOC_HDR (DOC_ID, TKT_NO, CUST_NO, TKT_DT, DOC_TYP, STR_ID, STA_ID,
                        SUB_TOT, TAX_AMT, TOT_AMT)
SELECT
    (SELECT COALESCE(MAX(DOC_ID), 0) + 1 FROM PS_DOC_HDR),
    CONCAT('WEB-', s.WOO_ORDER_ID), s.CUST_NO, s.APPLIED_DT, 'O', 'WEB', 'WEB',
    s.SUBTOT, s.TAX_AMT, s.TOT_AMT
FROM USER_ORDER_STAGING s
WHERE s.STAGING_ID = {{ order.staging_id }};

INSERT INTO PS_DOC_LIN (DOC_ID, LIN_SEQ_NO, ITEM_NO, DESCR, QTY_SOLD, PRC, EXT_PRC)
SELECT h.DOC_ID, j.seq, j.sku, i.DESCR, j.qty, j.prc, j.total
FROM USER_ORDER_STAGING s
JOIN PS_DOC_HDR h ON h.TKT_NO = CONCAT('WEB-', s.WOO_ORDER_ID)
JOIN JSON_TABLE(s.LINE_ITEMS_JSON, '$[*]' COLUMNS (
    seq FOR ORDINALITY,
    sku VARCHAR(20) PATH '$.sku',
    qty DECIMAL(12, 2) PATH '$.quantity',
    prc DECIMAL(12, 2) PATH '$.price',
    total DECIMAL(12, 2) PATH '$.total'
)) j
JOIN IM_ITEM i ON i.ITEM_NO = j.sku
WHERE s.STAGING_ID = {{ order.staging_id }};

UPDATE IM_INV inv
JOIN (
    SELECT l.ITEM_NO, SUM(l.QTY_SOLD) AS qty
    FROM PS_DOC_LIN l
    JOIN PS_DOC_HDR h ON h.DOC_ID = l.DOC_ID
    JOIN USER_ORDER_STAGING s ON h.TKT_NO = CONCAT('WEB-', s.WOO_ORDER_ID)
    WHERE s.STAGING_ID = {{ order.staging_id }}
    GROUP BY l.ITEM_NO
) q ON q.ITEM_NO = inv.ITEM_NO
SET inv.QTY_ON_SO = inv.QTY_ON_SO + q.qty
WHERE inv.LOC_ID = {{ inputs.location }};

UPDATE USER_ORDER_STAGING s
JOIN PS_DOC_HDR h ON h.TKT_NO = CONCAT('WEB-', s.WOO_ORDER_ID)
SET s.CP_DOC_ID = CAST(h.DOC_ID AS CHAR)
WHERE s.STAGING_ID = {{ order.staging_id }};
