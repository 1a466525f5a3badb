Feature: Database Connection Issues - Symptoms
  The runbook's Symptoms, each observed while PostgreSQL runs and answers but refuses the service's new
  connections. Every fault is recorded in the fault ledger before it is applied and undone after the scenario,
  whatever happens.

  Background:
    Given the service is healthy

  @runbook:symptoms:health-check-failing @runbook:symptoms:postgres-running
  Scenario: The health check fails while every PostgreSQL connection slot is taken
    When every PostgreSQL connection slot is taken
    Then the service health check through the load balancer fails
    And PostgreSQL still answers its check

  @runbook:symptoms:api-503 @runbook:symptoms:postgres-running
  Scenario: The load balancer answers 503 while the service's PostgreSQL password was rotated on the server
    When the service's PostgreSQL password is changed on the server
    Then the load balancer answers 503 or 504
    And PostgreSQL still answers its check
