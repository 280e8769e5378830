//! Following a list's `next` cursor: one page by default, every page with `--all`.

use std::future::Future;

use crate::connection::RequestError;

/// Most pages `--all` follows: a guard against a server that never stops handing out cursors.
const MAX_PAGES: usize = 10_000;

/// One page's items and the cursor of the next.
pub(crate) struct Page<T> {
    /// The items.
    pub(crate) items: Vec<T>,
    /// Where the next page starts; `None` on the last.
    pub(crate) next: Option<String>,
}

/// The items of the first page (or of every page when `all`), and the cursor after the last page
/// read. `fetch(cursor)` gets one page.
pub(crate) async fn collect<T, F, Fut>(all: bool, mut fetch: F) -> Result<Page<T>, RequestError>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: Future<Output = Result<Page<T>, RequestError>>,
{
    let mut page = fetch(None).await?;
    let mut pages = 1;
    while all && pages < MAX_PAGES {
        let Some(cursor) = page.next.take() else { break };
        let next = fetch(Some(cursor)).await?;
        page.items.extend(next.items);
        page.next = next.next;
        pages += 1;
    }
    Ok(page)
}

/// Tell the reader, on stderr, that a list has more pages than it printed.
pub(crate) fn note_more(next: Option<&str>, what: &str) {
    if next.is_some() {
        eprintln!("(more {what}: --all lists every page)");
    }
}
