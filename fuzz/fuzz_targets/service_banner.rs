//! What an open port says (SSH, SMTP, FTP, HTTP, Redis, MySQL greetings…): the product and version read from
//! it, the banner kept, and whether the reply looks complete.
#![no_main]

extern crate tlink_fuzz;

use libfuzzer_sys::fuzz_target;
use tlink_tools::exposure::banner::{MAX_BANNER_CHARS, MAX_READ};
use tlink_tools::fuzzing;

fuzz_target!(|data: &[u8]| {
    // The exposure tool never reads more than this from a reply.
    let data = &data[..data.len().min(MAX_READ)];
    let (grab, _complete) = fuzzing::service_banner(data);
    if let Some(banner) = &grab.banner {
        assert!(banner.chars().count() <= MAX_BANNER_CHARS);
    }
});
