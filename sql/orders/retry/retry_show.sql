-- order-retry: one staged order and why it failed (seed 000: cp_order_processor.py show).
SELECT
    STAGING_ID AS staging_id,
    WOO_ORDER_ID AS woo_order_id,
    CUST_NO AS cust_no,
    IS_APPLIED AS is_applied,
    CP_DOC_ID AS cp_doc_id,
    VALIDATION_ERROR AS validation_error,
    RETRY_COUNT AS retry_count,
    SUBTOT AS subtot,
    TAX_AMT AS tax_amt,
    SHIP_AMT AS ship_amt,
    TOT_AMT AS tot_amt,
    LINE_ITEMS_JSON AS line_items_json,
    CREATED_DT AS created_dt
FROM USER_ORDER_STAGING
WHERE STAGING_ID = {{ inputs.staging_id }};
