//! Tool tests against real servers started on loopback: DNS, WHOIS, TLS, TCP banners, HTTP provider stand-ins.

mod feed;
mod reputation;
mod standins;
mod dns;
mod dnsserver;
mod email;
mod ssl;
mod support;

mod whois;
