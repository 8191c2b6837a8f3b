-- order-processing on SQL Server: THE PRODUCTION SEAM. Validation is the production
-- procedure dbo.sp_ValidateStagedOrder (seed 001), not the demo SQL: it returns the
-- first rule the order breaks in @ErrorMessage (NULL when valid). Adjust the parameter
-- names here if your procedure declares others; the step only needs one row with the
-- column validation_error.
DECLARE @ErrorMessage NVARCHAR(500);
EXEC dbo.sp_ValidateStagedOrder
    @StagingID = {{ order.staging_id }},
    @ErrorMessage = @ErrorMessage OUTPUT;
SELECT @ErrorMessage AS validation_error;
