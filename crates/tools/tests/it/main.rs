//! Tool tests against real servers started on loopback: DNS, WHOIS, TLS, TCP banners, HTTP provider stand-ins.

mod config;
mod dns;
mod dnsserver;
mod email;
mod exposure;
mod feed;
mod notify;
mod props;
mod reputation;
mod smtpsink;
mod ssl;
mod standins;
mod support;

mod whois;
