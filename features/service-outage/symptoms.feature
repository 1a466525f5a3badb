Feature: Service Outage - Symptoms
  The runbook's Symptoms, each observed while a fault of the gameday vocabulary is injected.
  Every fault is recorded in the fault ledger before it is applied and undone after the scenario,
  whatever happens.

  Background:
    Given the service is healthy

  @runbook:symptoms:health-check-failing
  Scenario: The service health check fails while PostgreSQL is stopped
    When the dependency "postgres" is stopped
    Then the service health check through the load balancer fails

  @runbook:symptoms:lb-503-504
  Scenario: The load balancer answers 503/504 while every replica hangs
    When every replica is frozen
    Then the load balancer answers 503 or 504

  @runbook:symptoms:all-endpoints-failing
  Scenario: Every API endpoint answers with an error while every replica is killed
    When every replica is killed and kept down for 3 seconds
    Then every API endpoint answers with an error

  @runbook:symptoms:zero-successful-requests
  Scenario: Zero successful requests while every replica hangs
    When every replica is frozen
    And the service is under load for 3 seconds
    Then zero requests succeed
