//! The HTML the server writes itself: a page shell and escaping. Pages are shells
//! whose data the page's script fetches from the JSON API and inserts as text
//! (`textContent`, never `innerHTML`), so a note, a tag or a dataset name holding
//! markup is shown as text everywhere; what the shell itself carries goes through
//! [`esc`].

pub use crate::plots::report::esc;

/// A path segment escaped for a URL (RFC 3986 unreserved characters kept).
pub fn url_segment(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            o.push(b as char);
        } else {
            o.push_str(&format!("%{b:02X}"));
        }
    }
    o
}

/// A whole page: the navigation, `body` (already HTML), then the page's module
/// scripts from `/assets/`. `title` is escaped here.
pub fn page_shell(title: &str, active: &str, body: &str, scripts: &[&str]) -> String {
    let nav = [("board", "/", "Board"), ("cuts", "/cuts", "Cut tuning"), ("tags", "/tags", "Tags"), ("audit", "/audit", "Audit log")]
        .iter()
        .map(|(id, href, label)| format!("<a href=\"{href}\"{}>{label}</a>", if *id == active { " class=\"active\"" } else { "" }))
        .collect::<Vec<_>>()
        .join("");
    let scripts: String = scripts.iter().map(|s| format!("<script type=\"module\" src=\"/assets/{}\"></script>", esc(s))).collect();
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><link rel=\"icon\" href=\"data:,\"><link rel=\"stylesheet\" href=\"/assets/app.css\"></head>\
         <body><header><span class=\"brand\">gm2dqc</span><nav>{nav}</nav><span id=\"who\" class=\"who\"></span></header>\
         <div id=\"banner\" class=\"banner\" hidden></div><main>{body}</main>\
         <script type=\"module\" src=\"/assets/common.js\"></script>{scripts}</body></html>\n",
        esc(title)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping() {
        assert_eq!(esc("<script>alert('x')</script> & \"q\""), "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;");
        assert_eq!(url_segment("run 3B/../x"), "run%203B%2F..%2Fx");
        assert_eq!(url_segment("µ"), "%C2%B5");
    }
}
