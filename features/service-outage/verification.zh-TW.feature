# language: zh-TW
功能: Service Outage 的 Verification 檢查清單
  依 runbook 的 Verification 逐項驗證目標環境的現況，與 verification.feature 共用同一組 step 實作。

  背景:
    假如 服務已部署於目標環境
    而且 load balancer 有回應

  @runbook:verification:pods-running
  場景: 所有 pods 都在執行
    那麼 所有 pods 都在執行

  @runbook:verification:health-checks
  場景: Health checks 通過
    那麼 Health checks 通過

  @runbook:verification:api-endpoints
  場景: API endpoints 正常回應
    那麼 API endpoints 正常回應

  @runbook:verification:smoke-tests
  場景: Smoke tests 通過
    那麼 Smoke tests 通過

  @runbook:verification:error-rate
  場景: 錯誤率 < 1%
    當 對服務施加負載直到錯誤率可判定
    那麼 錯誤率 < 1%

  @runbook:verification:response-time
  場景: 回應時間正常
    假如 已在任何故障注入前量測基準回應時間
    當 對服務施加負載直到錯誤率可判定
    那麼 回應時間正常
