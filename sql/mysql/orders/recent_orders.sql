-- Recent orders (MariaDB/MySQL version of sql/orders/recent_orders.sql): the last 20
-- CounterPoint documents created from WooCommerce orders in the past day. Mirrors seed
-- 000 "Check Recent Orders Created".
SELECT
    h.TKT_NO AS tkt_no,
    h.CUST_NO AS cust_no,
    c.NAM AS customer_name,
    h.TKT_DT AS tkt_dt,
    h.TOT_AMT AS tot_amt,
    s.WOO_ORDER_ID AS woo_order_id
FROM PS_DOC_HDR AS h
INNER JOIN USER_ORDER_STAGING AS s ON s.CP_DOC_ID = CAST(h.DOC_ID AS CHAR)
LEFT JOIN AR_CUST AS c ON c.CUST_NO = h.CUST_NO
WHERE h.TKT_DT >= UTC_TIMESTAMP() - INTERVAL 1 DAY
ORDER BY h.TKT_DT DESC
LIMIT 20;
