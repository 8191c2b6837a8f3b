-- order-processing: create the CounterPoint document of one claimed order, as
-- sp_CreateOrderFromStaging and sp_CreateOrderLines do (sql/orders/processing/process_create.sql).
INSERT INTO PS_DOC_HDR (DOC_ID, TKT_NO, CUST_NO, TKT_DT, DOC_TYP, STR_ID, STA_ID,
                        SUB_TOT, TAX_AMT, TOT_AMT)
SELECT
    (SELECT COALESCE(MAX(DOC_ID), 0) + 1 FROM PS_DOC_HDR),
    'WEB-' || s.WOO_ORDER_ID, s.CUST_NO, s.APPLIED_DT, 'O', 'WEB', 'WEB',
    s.SUBTOT, s.TAX_AMT, s.TOT_AMT
FROM USER_ORDER_STAGING s
WHERE s.STAGING_ID = {{ order.staging_id }};

INSERT INTO PS_DOC_LIN (DOC_ID, LIN_SEQ_NO, ITEM_NO, DESCR, QTY_SOLD, PRC, EXT_PRC)
SELECT
    h.DOC_ID,
    e.seq,
    e.line ->> 'sku',
    i.DESCR,
    CAST(e.line ->> 'quantity' AS NUMERIC),
    CAST(e.line ->> 'price' AS NUMERIC),
    CAST(e.line ->> 'total' AS NUMERIC)
FROM USER_ORDER_STAGING s
JOIN PS_DOC_HDR h ON h.TKT_NO = 'WEB-' || s.WOO_ORDER_ID
CROSS JOIN LATERAL json_array_elements(CAST(s.LINE_ITEMS_JSON AS JSON))
    WITH ORDINALITY AS e(line, seq)
JOIN IM_ITEM i ON i.ITEM_NO = e.line ->> 'sku'
WHERE s.STAGING_ID = {{ order.staging_id }};

UPDATE IM_INV
SET QTY_ON_SO = IM_INV.QTY_ON_SO + q.qty
FROM (
    SELECT l.ITEM_NO, SUM(l.QTY_SOLD) AS qty
    FROM PS_DOC_LIN l
    JOIN PS_DOC_HDR h ON h.DOC_ID = l.DOC_ID
    JOIN USER_ORDER_STAGING s ON h.TKT_NO = 'WEB-' || s.WOO_ORDER_ID
    WHERE s.STAGING_ID = {{ order.staging_id }}
    GROUP BY l.ITEM_NO
) q
WHERE IM_INV.ITEM_NO = q.ITEM_NO
  AND IM_INV.LOC_ID = {{ inputs.location }};

UPDATE USER_ORDER_STAGING
SET CP_DOC_ID = CAST(h.DOC_ID AS VARCHAR(30))
FROM PS_DOC_HDR h
WHERE h.TKT_NO = 'WEB-' || USER_ORDER_STAGING.WOO_ORDER_ID
  AND USER_ORDER_STAGING.STAGING_ID = {{ order.staging_id }};
