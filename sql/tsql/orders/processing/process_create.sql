-- order-processing on SQL Server: THE PRODUCTION SEAM. The document is created by the
-- production procedures (seed 001): dbo.sp_CreateOrderFromStaging writes PS_DOC_HDR and
-- returns the new DOC_ID, dbo.sp_CreateOrderLines writes PS_DOC_LIN from
-- LINE_ITEMS_JSON. The runner holds the transaction of the order: the procedures must
-- not COMMIT or ROLLBACK it themselves (their TRY/CATCH should THROW). QTY_ON_SO and
-- CP_DOC_ID are written here, as the demo does, unless your procedures already do.
DECLARE @DocID BIGINT;
EXEC dbo.sp_CreateOrderFromStaging
    @StagingID = {{ order.staging_id }},
    @DocID = @DocID OUTPUT;
EXEC dbo.sp_CreateOrderLines
    @StagingID = {{ order.staging_id }},
    @DocID = @DocID;
UPDATE inv
SET QTY_ON_SO = inv.QTY_ON_SO + q.qty
FROM dbo.IM_INV AS inv
JOIN (
    SELECT ITEM_NO, SUM(QTY_SOLD) AS qty
    FROM dbo.PS_DOC_LIN
    WHERE DOC_ID = @DocID
    GROUP BY ITEM_NO
) AS q ON q.ITEM_NO = inv.ITEM_NO
WHERE inv.LOC_ID = {{ inputs.location }};
UPDATE dbo.USER_ORDER_STAGING
SET CP_DOC_ID = CAST(@DocID AS VARCHAR(15))
WHERE STAGING_ID = {{ order.staging_id }};
