-- Recent orders (SQL Server version of sql/orders/recent_orders.sql): the last 20
-- CounterPoint documents created from WooCommerce orders in the past day. Mirrors seed
-- 000 "Check Recent Orders Created" (TOP 20).
SELECT TOP 20
    h.TKT_NO AS tkt_no,
    h.CUST_NO AS cust_no,
    c.NAM AS customer_name,
    h.TKT_DT AS tkt_dt,
    h.TOT_AMT AS tot_amt,
    s.WOO_ORDER_ID AS woo_order_id
FROM dbo.PS_DOC_HDR AS h
INNER JOIN dbo.USER_ORDER_STAGING AS s ON s.CP_DOC_ID = CAST(h.DOC_ID AS NVARCHAR(30))
LEFT JOIN dbo.AR_CUST AS c ON c.CUST_NO = h.CUST_NO
WHERE h.TKT_DT >= DATEADD(DAY, -1, SYSUTCDATETIME())
ORDER BY h.TKT_DT DESC;
