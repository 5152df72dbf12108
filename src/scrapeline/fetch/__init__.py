"""The fetch layer: the only way a pipeline reaches the network.

A stage's ``ctx.fetch(url)`` goes to :class:`~scrapeline.fetch.client.FetchClient`,
which takes every request through the same steps, with state per host:

    allow-list → breaker → limiter → transport → status → retry → contract

Modules, one concept each:

- ``settings``  FetchSettings: everything a client is built from, checked once, frozen
- ``client``    FetchClient: the steps above, in that order (``FetchClient.from_settings``)
- ``transport`` the Fetcher protocol; HttpFetcher (own HTTP/1.1 client, aiohttp) and FakeFetcher
- ``http1``     the lean HTTP/1.1 client HttpFetcher sends direct GETs through
- ``browser``   BrowserFetcher: pages rendered by headless Chromium (``[browser]`` extra)
- ``limits``    Politeness and HostLimiter: rate, delay, concurrency, pauses
- ``retry``     RetryPolicy, full-jitter backoff, Retry-After (pure)
- ``breaker``   the per-host circuit breaker and HostDown (pure)
- ``down``      a host down from the first request: HostUnreachable (pure rule)
- ``tally``     requests, retries, 429s, 5xx and unanswered requests per host:port
- ``status``    what a response amounts to: ok, 4xx/5xx, 429, blocked (pure)
- ``contract``  Expect and check_contract (pure)
- ``events``    what the client reports to subscribers
- ``response``  the Request and Response values, and the PageNode elements of a page

Import from the modules; this package imports nothing, so that using
``scrapeline.fetch.response`` does not load aiohttp.
"""
