-- order-processing: create the CounterPoint document of one claimed order, as
-- sp_CreateOrderFromStaging and sp_CreateOrderLines do: the header (PS_DOC_HDR), one
-- line per LINE_ITEMS_JSON entry (PS_DOC_LIN), QTY_ON_SO raised by the quantities
-- ordered, and the document id written back to the staging row (CP_DOC_ID).
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
    j.key + 1,
    json_extract(j.value, '$.sku'),
    i.DESCR,
    json_extract(j.value, '$.quantity'),
    json_extract(j.value, '$.price'),
    json_extract(j.value, '$.total')
FROM USER_ORDER_STAGING s
JOIN PS_DOC_HDR h ON h.TKT_NO = 'WEB-' || s.WOO_ORDER_ID
JOIN json_each(s.LINE_ITEMS_JSON) j
JOIN IM_ITEM i ON i.ITEM_NO = json_extract(j.value, '$.sku')
WHERE s.STAGING_ID = {{ order.staging_id }};

UPDATE IM_INV
SET QTY_ON_SO = QTY_ON_SO + (
    SELECT SUM(l.QTY_SOLD)
    FROM PS_DOC_LIN l
    JOIN PS_DOC_HDR h ON h.DOC_ID = l.DOC_ID
    JOIN USER_ORDER_STAGING s ON h.TKT_NO = 'WEB-' || s.WOO_ORDER_ID
    WHERE s.STAGING_ID = {{ order.staging_id }}
      AND l.ITEM_NO = IM_INV.ITEM_NO
)
WHERE LOC_ID = {{ inputs.location }}
  AND ITEM_NO IN (
    SELECT l.ITEM_NO
    FROM PS_DOC_LIN l
    JOIN PS_DOC_HDR h ON h.DOC_ID = l.DOC_ID
    JOIN USER_ORDER_STAGING s ON h.TKT_NO = 'WEB-' || s.WOO_ORDER_ID
    WHERE s.STAGING_ID = {{ order.staging_id }}
  );

UPDATE USER_ORDER_STAGING
SET CP_DOC_ID = (
    SELECT CAST(h.DOC_ID AS TEXT) FROM PS_DOC_HDR h
    WHERE h.TKT_NO = 'WEB-' || USER_ORDER_STAGING.WOO_ORDER_ID
)
WHERE STAGING_ID = {{ order.staging_id }};
