Feature: Service Outage - Detection
  The runbook's Detection signals: an APIEndpointDown-style condition (the API failing for a sustained
  window, seen from outside), the operations view showing the service stopped, and the log patterns.

  Background:
    Given the service is healthy

  @runbook:detection:api-endpoint-down
  Scenario: The APIEndpointDown condition holds when the API fails for a sustained window
    When every replica is frozen
    And the API is probed every 0.5 seconds for 3 seconds
    Then the API has been down for at least 3 seconds

  @runbook:detection:api-endpoint-down
  Scenario: No APIEndpointDown condition on a healthy service
    When the API is probed every 0.5 seconds for 2 seconds
    Then the API has not been down

  @runbook:detection:dashboard
  Scenario: The operations view shows the service stopped
    When every replica is frozen
    Then the load balancer shows no ready endpoint
    And no replica is shown ready

  @runbook:detection:log-patterns
  Scenario: The logs show "Connection refused" and "service unavailable"
    When the dependency "postgres" is stopped
    And the service health check through the load balancer fails
    Then the service logs show "Connection refused"
    And the service logs show "service unavailable"
