"""The trivial endpoint for the load generator headroom benchmark: /healthz as fast as locust can."""

from locust import FastHttpUser, constant, task


class Trivial(FastHttpUser):
    """No think time: every user asks as fast as it is answered."""

    wait_time = constant(0)

    @task
    def healthz(self) -> None:
        """The cheapest request behind the load balancer."""
        self.client.get("/healthz")
