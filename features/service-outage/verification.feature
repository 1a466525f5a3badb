Feature: Service Outage - Verification
  The runbook's Verification checklist, judged on the target as it is: every pod running, health checks,
  API endpoints, smoke tests, error rate < 1% (95% Wilson upper bound) and response time (p95 against the
  SLO and the baseline measured before any fault). The same checklist in the runbook's own words is
  verification.zh-TW.feature.

  Background:
    Given the service under verification
    And its load balancer answers

  @runbook:verification:pods-running
  Scenario: All pods are running
    Then all pods are running

  @runbook:verification:health-checks
  Scenario: Health checks pass
    Then the health checks pass

  @runbook:verification:api-endpoints
  Scenario: API endpoints answer normally
    Then the API endpoints answer normally

  @runbook:verification:smoke-tests
  Scenario: Smoke tests pass
    Then the smoke tests pass

  @runbook:verification:error-rate
  Scenario: The error rate is below 1%
    When the service is under load until the error rate is decided
    Then the error rate is below 1%

  @runbook:verification:response-time
  Scenario: The response time is normal
    Given a baseline response time measured before any fault
    When the service is under load until the error rate is decided
    Then the response time is normal
