"""The estimation service: the engine over HTTP (FastAPI under uvicorn).

Every endpoint parses its request, calls the public API and returns the same JSON the
command line prints. The service keeps nothing between requests but the rulesets it loaded
at start, so any number of instances can stand behind a load balancer.

Installed with the ``service`` extra (``pip install "tuneprint[service]"``); the rest of
the package never imports this one.
"""
