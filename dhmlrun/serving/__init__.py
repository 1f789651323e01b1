"""Services: the servers the embedded core runs for serve runs (`docs/services.md`).

`endpoints` is light (the core imports it); `worker` and the servers import the SDK and run only
in a service's own process.
"""
