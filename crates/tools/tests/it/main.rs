//! Tool tests against real servers started on loopback: DNS, WHOIS, TLS, TCP banners, HTTP provider stand-ins.

mod exposure;
mod support;
