#!/usr/bin/env bash
# `sluice report --html` in a real browser: headless Chromium, offline,
# loads the page built from the synthetic ledger, with no console message
# (the page has no script, so any message is a load, CSP or parse error),
# five charts each drawing SVG shapes, and a non-empty screenshot at
# $SLUICE_BUILD_DIR/report.png. A control page with a deliberate
# console.error proves the console capture works. The page opens with the
# bill and the learning curve; a scripted copy of it measures every SVG
# text as laid out (getBBox) and finds none past its SVG's edges and no two
# overlapping. Without Chromium the test FAILS: ops/install-deps.sh
# installs it.
source "$(dirname "$0")/lib.sh"

CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
[ -n "$CHROMIUM" ] || fail "chromium not installed (ops/install-deps.sh installs Debian's chromium)"
SHOT="$SLUICE_BUILD_DIR/report.png"

# usage: browse URL DOM_OUT LOG_OUT [extra flags] — one offline headless run.
# No network: background services off, every host name unresolvable, no
# proxy; the page is a file:// URL.
browse() {
    local url=$1 dom=$2 log=$3
    shift 3
    HOME="$RUN/home" timeout 60 "$CHROMIUM" --headless --no-sandbox --disable-gpu \
        --disable-background-networking --disable-component-update --disable-sync \
        --disable-extensions --disable-default-apps --no-first-run --no-default-browser-check \
        --no-proxy-server --host-resolver-rules="MAP * ~NOTFOUND" \
        --user-data-dir="$RUN/chromium-profile" --enable-logging=stderr --v=0 \
        "$@" --dump-dom "$url" >"$dom" 2>"$log" \
        || fail "chromium exited with $? on $url: $(tail -n 5 "$log")"
}
mkdir -p "$RUN/home"

# ---- the control: a console error must be seen -------------------------------
cat >"$RUN/control.html" <<'EOF'
<!doctype html><html><head><meta charset="utf-8"><title>control</title></head>
<body><script>console.error("sluice-control-error")</script></body></html>
EOF
# In the background while PostgreSQL starts: a headless run mostly waits.
browse "file://$RUN/control.html" "$RUN/control.dom" "$RUN/control.log" &
control_pid=$!

# ---- the report --------------------------------------------------------------
cp "$SLUICE_SOURCE_DIR/config/sluice.example.json" "$SLUICE_CONFIG"
svc_pg_start "$RUN"
"$SLUICE" migrate >/dev/null || fail "sluice migrate"
source "$(dirname "$0")/synthetic-ledger.sh"
it_synthetic_ledger
"$SLUICE" report --html "$RUN/report.html" >/dev/null || fail "sluice report --html"

wait "$control_pid" || fail "chromium failed on the control page"
grep -q 'CONSOLE.*sluice-control-error' "$RUN/control.log" \
    || fail "console capture does not work: no CONSOLE line for the control page"
pass "console capture works (control page's console.error seen)"

rm -f "$SHOT"
browse "file://$RUN/report.html" "$RUN/report.dom" "$RUN/report.log" \
    --window-size=1280,4000 --screenshot="$SHOT"

grep -q '</html>' "$RUN/report.dom" || fail "the page did not load (no DOM dumped)"
grep -qi '<title>[^<]' "$RUN/report.dom" || fail "the loaded page has no title"
if grep -q 'CONSOLE' "$RUN/report.log"; then
    grep 'CONSOLE' "$RUN/report.log" >&2
    fail "the report logged console messages"
fi
pass "the report loads with no console message"

# One line per chart: its SVG's drawn shapes, counted in the live DOM.
tr '\n' ' ' <"$RUN/report.dom" | sed 's/<svg/\n<svg/g' | sed -n 's/^\(<svg.*<\/svg>\).*/\1/p' \
    | awk '{ n = 0; s = $0
             n += gsub(/<rect/, "", s); n += gsub(/<path/, "", s)
             n += gsub(/<polyline/, "", s)
             print n }' >"$RUN/shapes"
charts=$(wc -l <"$RUN/shapes")
[ "$charts" -eq 6 ] || fail "the DOM has $charts charts, wanted 6 (the learning curve and five)"
while read -r shapes; do
    [ "$shapes" -gt 0 ] || fail "a chart's SVG draws nothing (shapes per chart: $(tr '\n' ' ' <"$RUN/shapes"))"
done <"$RUN/shapes"
bars=$(tr '\n' ' ' <"$RUN/report.dom" | grep -o '<rect' | wc -l)
[ "$bars" -gt 20 ] || fail "only $bars bars in the charts"
pass "6 charts, each drawing SVG shapes ($(tr '\n' ' ' <"$RUN/shapes"))"

# The first screen is the bill, then the learning curve's chart.
tr '\n' ' ' <"$RUN/report.dom" | grep -o '<h2[^>]*>[^<]*\|<figcaption>[^<]*' | head -n 2 >"$RUN/first"
[ "$(sed -n 1p "$RUN/first")" = '<h2 id="bill">The bill' ] || fail "the page does not open with the bill: $(cat "$RUN/first")"
grep -q '^<figcaption>Who answered each period' "$RUN/first" || fail "the first chart is not the learning curve: $(cat "$RUN/first")"
pass "the page opens with the bill, then the learning curve"

# Every SVG text as Chromium lays it out: inside its SVG, no two overlapping
# (a cut-off axis label, legend entries or x labels running into each other).
cat >"$RUN/measure.js" <<'EOF'
const bad = [];
let texts = 0;
document.querySelectorAll('svg').forEach((svg, i) => {
  const w = svg.viewBox.baseVal.width, h = svg.viewBox.baseVal.height;
  const boxes = [...svg.querySelectorAll('text')].map(t => [t.textContent, t.getBBox()]);
  texts += boxes.length;
  for (const [s, b] of boxes)
    if (b.x < -0.5 || b.y < -0.5 || b.x + b.width > w + 0.5 || b.y + b.height > h + 0.5)
      bad.push(`svg ${i}: "${s}" at x ${b.x.toFixed(1)} width ${b.width.toFixed(1)} past ${w}x${h}`);
  for (let a = 0; a < boxes.length; a++)
    for (let c = a + 1; c < boxes.length; c++) {
      const [s1, p] = boxes[a], [s2, q] = boxes[c];
      if (p.x + 0.5 < q.x + q.width && q.x + 0.5 < p.x + p.width &&
          p.y + 0.5 < q.y + q.height && q.y + 0.5 < p.y + p.height)
        bad.push(`svg ${i}: "${s1}" overlaps "${s2}"`);
    }
});
const pre = document.createElement('pre');
pre.textContent = `MEASURED ${texts} texts; BAD ${bad.length}: ${bad.join('; ')} END`;
document.body.appendChild(pre);
EOF
sed 's|</body>|<script src="measure.js"></script></body>|' "$RUN/report.html" >"$RUN/measure.html"
browse "file://$RUN/measure.html" "$RUN/measure.dom" "$RUN/measure.log" --window-size=1280,4000 \
    --allow-file-access-from-files
measured=$(grep -o 'MEASURED [0-9]* texts; BAD [0-9]*:.*END' "$RUN/measure.dom") \
    || fail "the measuring script did not run: $(tail -n 3 "$RUN/measure.log")"
[ "$(sed 's/MEASURED \([0-9]*\).*/\1/' <<<"$measured")" -gt 30 ] || fail "too few texts measured: $measured"
grep -q 'BAD 0:' <<<"$measured" || fail "chart texts cut off or overlapping: $measured"
pass "$(sed 's/;.*//' <<<"$measured") in the charts: all inside their SVG, none overlapping"

[ -s "$SHOT" ] || fail "no screenshot at $SHOT"
[ "$(head -c 8 "$SHOT" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] || fail "$SHOT is not a PNG"
pass "screenshot $SHOT ($(wc -c <"$SHOT") bytes)"
