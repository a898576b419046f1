//! The values of a Berkeley DB hash database, read straight from its file: what reading rpm's `Packages`
//! database (RHEL and CentOS 7 and 8, Amazon Linux 2) takes, and nothing more. No library, no lock, no
//! environment: the file is read as it is on disk.
//!
//! The layout, all integers in the byte order of the machine that wrote the file (told by the magic number):
//! - page 0 is the metadata page: magic `0x061561` at byte 12, page size at 20, encryption at 24, the last
//!   page number at 32;
//! - every page starts with a 26-byte header: next page at 16, item count at 20, free-space offset (on
//!   overflow pages: the bytes used) at 22, page type at 25;
//! - a hash page (type 13, or 2 before 4.6) holds key/data pairs: after its header, a `u16` offset per
//!   item, keys at even and data at odd indices. Item `i` runs from its offset to item `i − 1`'s (the page's
//!   end for item 0). Its first byte is its type: 1, the bytes follow; 3, they are elsewhere: page number at
//!   4 and total length at 8 of the item;
//! - an overflow page (type 7) carries the next part of such a value after its header, and links to the next
//!   page of the chain.

use std::fmt;

const HASH_MAGIC: u32 = 0x0006_1561;
const PAGE_HEADER: usize = 26;
const P_HASH_UNSORTED: u8 = 2;
const P_OVERFLOW: u8 = 7;
const P_HASH: u8 = 13;
const H_KEYDATA: u8 = 1;
const H_OFFPAGE: u8 = 3;

/// Why a file could not be read as a hash database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BdbError {
    NotHash,
    Encrypted,
    PageSize(u32),
    /// A value's overflow chain ends early, loops, passes through a page of another kind, or claims more
    /// bytes than the file holds.
    BrokenChain(u32),
    /// Items overlap: the values add up to more bytes than the file holds, which no database Berkeley DB
    /// wrote does (each value is stored once).
    Overlapping,
}

impl fmt::Display for BdbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BdbError::NotHash => write!(f, "not a Berkeley DB hash database"),
            BdbError::Encrypted => write!(f, "the database is encrypted"),
            BdbError::PageSize(n) => write!(f, "invalid page size {n}"),
            BdbError::BrokenChain(p) => write!(f, "the overflow chain starting at page {p} is broken"),
            BdbError::Overlapping => write!(f, "the items overlap: the values would be larger than the file"),
        }
    }
}

impl std::error::Error for BdbError {}

/// Reads integers in the file's byte order.
#[derive(Clone, Copy)]
struct Order {
    big: bool,
}

impl Order {
    fn u32(self, buf: &[u8], at: usize) -> Option<u32> {
        let b: [u8; 4] = buf.get(at..at.checked_add(4)?)?.try_into().ok()?;
        Some(if self.big { u32::from_be_bytes(b) } else { u32::from_le_bytes(b) })
    }

    fn u16(self, buf: &[u8], at: usize) -> Option<u16> {
        let b: [u8; 2] = buf.get(at..at.checked_add(2)?)?.try_into().ok()?;
        Some(if self.big { u16::from_be_bytes(b) } else { u16::from_le_bytes(b) })
    }
}

/// Every data value of the hash database in `file`, in page order. Items that cannot be read (a truncated
/// page, an offset outside its page, an item of a kind rpm does not write) are skipped; a broken overflow
/// chain is an error, as is a file that is not an unencrypted hash database, and one whose items overlap.
///
/// What is read is bounded by the file: every value is a copy of bytes of the file, and their total is at most
/// the file's size, whatever the pages claim.
pub fn hash_values(file: &[u8]) -> Result<Vec<Vec<u8>>, BdbError> {
    let order = match (Order { big: false }.u32(file, 12), Order { big: true }.u32(file, 12)) {
        (Some(HASH_MAGIC), _) => Order { big: false },
        (_, Some(HASH_MAGIC)) => Order { big: true },
        _ => return Err(BdbError::NotHash),
    };
    if file.get(24).copied().unwrap_or(0) != 0 {
        return Err(BdbError::Encrypted);
    }
    let page_size = order.u32(file, 20).ok_or(BdbError::NotHash)?;
    if !(512..=65_536).contains(&page_size) || !page_size.is_power_of_two() {
        return Err(BdbError::PageSize(page_size));
    }
    let size = page_size as usize;
    let last = order.u32(file, 32).ok_or(BdbError::NotHash)?;
    let pages = Pages { file, size, order, last };
    let mut values = Vec::new();
    // Bytes still allowed to be read: the items of a database do not overlap, so its values fit in the file.
    // Offsets that make items overlap would otherwise let a small file yield the square of its size.
    let mut budget = file.len();
    let mut take = |value: Vec<u8>| -> Result<(), BdbError> {
        budget = budget.checked_sub(value.len()).ok_or(BdbError::Overlapping)?;
        values.push(value);
        Ok(())
    };
    for n in 1..=last {
        let Some(page) = pages.get(n) else { break };
        if !matches!(page[25], P_HASH | P_HASH_UNSORTED) {
            continue;
        }
        let items = usize::from(order.u16(page, 20).unwrap_or(0));
        for i in (1..items).step_by(2) {
            let (Some(start), Some(end)) =
                (order.u16(page, PAGE_HEADER + 2 * i), order.u16(page, PAGE_HEADER + 2 * i - 2))
            else {
                continue;
            };
            let Some(item) = page.get(usize::from(start)..usize::from(end)) else { continue };
            match item.first() {
                Some(&H_KEYDATA) => take(item[1..].to_vec())?,
                Some(&H_OFFPAGE) => {
                    let (Some(first), Some(len)) = (order.u32(item, 4), order.u32(item, 8)) else { continue };
                    take(pages.chain(first, len)?)?;
                }
                _ => {}
            }
        }
    }
    Ok(values)
}

struct Pages<'a> {
    file: &'a [u8],
    size: usize,
    order: Order,
    last: u32,
}

impl Pages<'_> {
    fn get(&self, n: u32) -> Option<&[u8]> {
        let start = usize::try_from(n).ok()?.checked_mul(self.size)?;
        self.file.get(start..start.checked_add(self.size)?)
    }

    /// The `len` bytes of the overflow chain starting at page `first`.
    fn chain(&self, first: u32, len: u32) -> Result<Vec<u8>, BdbError> {
        let broken = || BdbError::BrokenChain(first);
        // A value is bytes of the file: a longer one is a lie, and reading it would loop through the chain
        // (which may point at itself) until that many bytes were copied.
        let len = usize::try_from(len).map_err(|_| broken())?;
        if len > self.file.len() {
            return Err(broken());
        }
        let mut out = Vec::with_capacity(len);
        let mut n = first;
        // A chain visits each page at most once: more steps than pages is a loop. The pages are those the file
        // holds, not the last page number the metadata claims.
        let pages = (self.file.len() / self.size).min(usize::try_from(self.last).unwrap_or(usize::MAX));
        for _ in 0..=pages {
            let page = self.get(n).filter(|p| p[25] == P_OVERFLOW).ok_or_else(broken)?;
            let used = usize::from(self.order.u16(page, 22).ok_or_else(broken)?);
            out.extend_from_slice(page.get(PAGE_HEADER..PAGE_HEADER + used).ok_or_else(broken)?);
            n = self.order.u32(page, 16).ok_or_else(broken)?;
            if out.len() >= len || n == 0 {
                break;
            }
        }
        if out.len() < len {
            return Err(broken());
        }
        out.truncate(len);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/rpm-bdb").join(name);
        std::fs::read(path).expect("fixture")
    }

    #[test]
    fn both_byte_orders_give_the_same_values() {
        let little = hash_values(&fixture("Packages")).expect("little-endian file");
        let big = hash_values(&fixture("Packages.be")).expect("big-endian file");
        assert_eq!(little.len(), 8, "one value per record");
        let sorted = |mut v: Vec<Vec<u8>>| {
            v.sort();
            v
        };
        assert_eq!(sorted(little), sorted(big));
    }

    #[test]
    fn damaged_files_are_errors_or_skipped_never_a_panic() {
        let file = fixture("Packages");
        assert_eq!(hash_values(b"not a database"), Err(BdbError::NotHash));
        assert_eq!(hash_values(&[0u8; 4096]), Err(BdbError::NotHash));
        let mut encrypted = file.clone();
        encrypted[24] = 1;
        assert_eq!(hash_values(&encrypted), Err(BdbError::Encrypted));
        let mut odd = file.clone();
        odd[20..24].copy_from_slice(&1000u32.to_le_bytes());
        assert_eq!(hash_values(&odd), Err(BdbError::PageSize(1000)));
        // Cut anywhere, or with any single byte changed: an answer, not a panic.
        for n in (0..file.len()).step_by(97) {
            let _ = hash_values(&file[..n]);
            let mut flipped = file.clone();
            flipped[n] ^= 0xa5;
            let _ = hash_values(&flipped);
        }
        // A chain that loops back on itself is refused.
        let size = 4096;
        let mut looping = file.clone();
        let overflow = (1..file.len() / size).find(|&n| file[n * size + 25] == P_OVERFLOW).expect("an overflow page");
        let at = overflow * size + 16;
        looping[at..at + 4].copy_from_slice(&u32::try_from(overflow).expect("page").to_le_bytes());
        looping[overflow * size + 22..overflow * size + 24].copy_from_slice(&1u16.to_le_bytes());
        assert!(matches!(hash_values(&looping), Err(BdbError::BrokenChain(_))));
    }

    /// The first value stored on overflow pages: the offset of its item (page and byte) in the file.
    fn offpage_item(file: &[u8], size: usize) -> (usize, usize) {
        let order = Order { big: false };
        for page in 1..file.len() / size {
            let at = page * size;
            if !matches!(file[at + 25], P_HASH | P_HASH_UNSORTED) {
                continue;
            }
            let items = usize::from(order.u16(file, at + 20).expect("count"));
            for i in (1..items).step_by(2) {
                let start = usize::from(order.u16(file, at + PAGE_HEADER + 2 * i).expect("offset"));
                if file[at + start] == H_OFFPAGE {
                    return (page, start);
                }
            }
        }
        panic!("the fixture has values on overflow pages");
    }

    /// A value claiming 4 GiB through an overflow page that links to itself, in a file whose metadata claims
    /// 2^32 pages, used to be copied round the loop until 4 GiB were read (found reviewing the reader for the
    /// fuzz targets). It is a broken chain, read in one step per page the file really has.
    #[test]
    fn a_value_longer_than_the_file_is_refused() {
        let file = fixture("Packages");
        let size = 4096;
        let (page, start) = offpage_item(&file, size);
        let item = page * size + start;
        let first = usize::try_from(u32::from_le_bytes(file[item + 4..item + 8].try_into().expect("4 bytes")))
            .expect("page number");
        let mut lying = file.clone();
        lying[32..36].copy_from_slice(&u32::MAX.to_le_bytes());
        lying[item + 8..item + 12].copy_from_slice(&u32::MAX.to_le_bytes());
        let next = first * size + 16;
        lying[next..next + 4].copy_from_slice(&u32::try_from(first).expect("page").to_le_bytes());
        assert_eq!(hash_values(&lying), Err(BdbError::BrokenChain(u32::try_from(first).expect("page"))));
    }

    /// Item offsets that make every data item span its whole page, repeated on every hash page, used to yield
    /// far more bytes than the file holds (the square of its size, for large pages). They are refused.
    #[test]
    fn overlapping_items_are_refused() {
        let file = fixture("Packages");
        let size = 4096;
        let (page, _) = offpage_item(&file, size);
        let at = page * size;
        let mut overlapping = file.clone();
        let items = 1000;
        overlapping[at + 20..at + 22].copy_from_slice(&u16::try_from(items).expect("count").to_le_bytes());
        for i in 0..items {
            // Keys end at the page's end, data starts right after the offsets: each data item is the page.
            let offset = if i % 2 == 0 { size - 1 } else { PAGE_HEADER + 2 * items };
            let offset = u16::try_from(offset).expect("offset").to_le_bytes();
            overlapping[at + PAGE_HEADER + 2 * i..at + PAGE_HEADER + 2 * i + 2].copy_from_slice(&offset);
        }
        overlapping[at + PAGE_HEADER + 2 * items] = H_KEYDATA;
        assert_eq!(hash_values(&overlapping), Err(BdbError::Overlapping));
    }
}
