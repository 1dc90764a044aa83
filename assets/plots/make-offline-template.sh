#!/usr/bin/env bash
# Builds assets/plots/offline.html: DVC's plots page template with vega, vega-lite and vega-embed
# inlined (the versions dvc-render's default page loads from a CDN), so `dvc plots show` draws its
# charts with no network. .dvc/config points plots.html_template at it. Needs npm (the npm registry).
set -euo pipefail
cd "$(dirname "$0")"
packages=(vega@5.20.2 vega-lite@5.2.0 vega-embed@6.18.2)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "${packages[@]}" >/dev/null && for f in *.tgz; do mkdir "${f%.tgz}" && tar xzf "$f" -C "${f%.tgz}"; done)
{
  echo '<!DOCTYPE html>'
  echo '<html>'
  echo '<head>'
  echo '    {refresh_tag}'
  echo '    <meta charset="utf-8">'
  echo '    <title>DVC Plot</title>'
  echo "    <!-- Inlined for offline use: ${packages[*]} (BSD-3-Clause, (c) University of Washington Interactive Data Lab). -->"
  for name in vega-5.20.2 vega-lite-5.2.0 vega-embed-6.18.2; do
    echo "    <script>"
    cat "$work/$name/package/build/${name%-*}.min.js"
    echo
    echo "    </script>"
  done
  echo '    <style>table { border-spacing: 15px; }</style>'
  echo '</head>'
  echo '<body>'
  echo '    {plot_divs}'
  echo '</body>'
  echo '</html>'
} > offline.html
echo "wrote $(pwd)/offline.html ($(wc -c < offline.html) bytes)"
