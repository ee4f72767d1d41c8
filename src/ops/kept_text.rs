//! Searching names kept in memory: entries laid end to end in one
//! buffer, each ending in `\n`, searched with memchr's SIMD substring
//! search (see `account_names` and `token_names`).

/// The entries holding `term` (which holds no `\n`, so no match spans
/// two), each once, in buffer order; `starts` holds where each entry
/// begins, with one more at the end.
pub fn entries_holding<'a>(
    text: &'a [u8],
    starts: &'a [u32],
    term: &'a str,
) -> impl Iterator<Item = usize> + 'a {
    let mut last = usize::MAX;
    memchr::memmem::find_iter(text, term.as_bytes()).filter_map(move |at| {
        let i = starts.partition_point(|&s| s as usize <= at) - 1;
        (i != last).then(|| {
            last = i;
            i
        })
    })
}
