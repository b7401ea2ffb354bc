"""The report as one self-contained HTML page: no network when opened, the tables readable
without JavaScript, the treemap drawn by the page's own script. Every string from the
image (file names, commands, messages) is escaped; the treemap's data travels as JSON in
a script element of its own type, every `<` in it escaped (so no name can end or
re-open a script)."""

from __future__ import annotations

import html
import json

from distill import __version__
from distill.units import human as human_size


def _h(text) -> str:
    """Text for the page: markup escaped, a name's bytes that are not UTF-8 shown as \\udcXX."""
    return html.escape(str(text).encode("utf-8", "backslashreplace").decode("utf-8"), quote=True)


def human(n: int) -> str:
    return human_size(n, " ")


# a layer's hue stays out of the reds (330-40), which mean "wasted"
HUE_FROM, HUE_SPAN = 40, 290


def colour(layer: int) -> str:
    """A layer's colour, the same in the treemap (script) and the tables (here)."""
    return "#c8c8c8" if layer < 0 else f"hsl({HUE_FROM + layer * 67 % HUE_SPAN},55%,62%)"


CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:1280px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd}
.muted{color:#666}.ok{color:#17662b;font-weight:600}.fail{color:#a11;font-weight:600}
table{border-collapse:collapse;width:100%}td,th{padding:3px 8px;text-align:left;vertical-align:top;
border-bottom:1px solid #eee}th{background:#f6f6f6}td.num{text-align:right;white-space:nowrap}
.bar{height:14px;background:#e9e9e9;position:relative;min-width:2px}
.bar span{position:absolute;top:0;bottom:0;left:0}.bar .waste{background:#d33;left:auto;right:0}
.sw{display:inline-block;width:12px;height:12px;border:1px solid #999;vertical-align:middle}
#map{position:relative;width:100%;height:560px;border:1px solid #bbb;background:#fafafa;overflow:hidden}
#map .box{position:absolute;box-sizing:border-box;border:1px solid #fff;overflow:hidden;font-size:11px;
padding:1px 3px;white-space:nowrap;text-overflow:ellipsis}#map .dir{cursor:zoom-in}
#map .box .box{border-color:rgba(255,255,255,.7);font-size:10px}
#crumbs a{cursor:pointer;color:#2255aa;text-decoration:underline}code{font-size:12px}
"""

# the treemap: squarified layout of the current directory's children, click to open one
SCRIPT = """
(function(){
var data=JSON.parse(document.getElementById('tree').textContent);
var map=document.getElementById('map'),crumbs=document.getElementById('crumbs');
function colour(l){return l<0?'#c8c8c8':'hsl('+(HUE_FROM+l*67%HUE_SPAN)+',55%,62%)';}
function human(n){var u=['B','kB','MB','GB','TB'],i=0;while(n>=1000&&i<4){n/=1000;i++;}
 return (i?n.toPrecision(3):n)+' '+u[i];}
function worst(row,side){var s=0,mx=0,mn=Infinity;row.forEach(function(r){s+=r.a;mx=Math.max(mx,r.a);
 mn=Math.min(mn,r.a);});return Math.max(side*side*mx/(s*s),(s*s)/(side*side*mn));}
function place(row,x,y,w,h,out){var s=0;row.forEach(function(r){s+=r.a;});
 if(w>=h){var cw=s/h,cy=y;row.forEach(function(r){var rh=r.a/cw;out.push({n:r.n,x:x,y:cy,w:cw,h:rh});cy+=rh;});
  return [x+cw,y,w-cw,h];}
 var ch=s/w,cx=x;row.forEach(function(r){var rw=r.a/ch;out.push({n:r.n,x:cx,y:y,w:rw,h:ch});cx+=rw;});
 return [x,y+ch,w,h-ch];}
function squarify(kids,w,h){var total=0;kids.forEach(function(k){total+=k.s;});var out=[];if(!total)return out;
 var rest=kids.filter(function(k){return k.s>0;}).map(function(k){return {n:k,a:k.s*w*h/total};});
 var row=[],x=0,y=0;
 while(rest.length){var side=Math.min(w,h);
  if(!row.length||worst(row.concat([rest[0]]),side)<=worst(row,side)){row.push(rest.shift());}
  else{var r=place(row,x,y,w,h,out);x=r[0];y=r[1];w=r[2];h=r[3];row=[];}}
 if(row.length)place(row,x,y,w,h,out);return out;}
function box(parent,k,r,path,top){var d=document.createElement('div'),full='/'+path.concat([k.n]).join('/');
 d.className='box'+(k.c?' dir':'')+(top?' top':'');d.style.left=r.x.toFixed(1)+'px';d.style.top=r.y.toFixed(1)+'px';
 d.style.width=r.w.toFixed(1)+'px';d.style.height=r.h.toFixed(1)+'px';d.style.background=colour(k.l);
 d.dataset.path=full;d.dataset.bytes=k.s;d.title=full+'  '+human(k.s)+(k.l>=0?'  (layer '+k.l+')':'');
 if(r.w>40&&r.h>14)d.appendChild(document.createTextNode(k.n+' '+human(k.s)));
 if(k.c)d.onclick=function(e){e.stopPropagation();show(path.concat([k.n]));};
 parent.appendChild(d);
 if(top&&k.c&&r.w>60&&r.h>44){  // one level more inside, under the label
  squarify(k.c,r.w-6,r.h-20).forEach(function(q){q.x+=2;q.y+=16;box(d,q.n,q,path.concat([k.n]),false);});}}
function show(path){var node=data,trail=[data];
 for(var i=0;i<path.length;i++){node=node.c.filter(function(c){return c.n===path[i];})[0];trail.push(node);}
 map.textContent='';var W=map.clientWidth,H=map.clientHeight;
 squarify(node.c||[],W,H).forEach(function(r){box(map,r.n,r,path,true);});
 crumbs.textContent='';trail.forEach(function(t,i){var a=document.createElement('a');
  a.textContent=i?t.n:'/';a.onclick=function(){show(path.slice(0,i));};crumbs.appendChild(a);
  if(i<trail.length-1)crumbs.appendChild(document.createTextNode(' / '));});
 crumbs.appendChild(document.createTextNode('  '+human(node.s)));}
show([]);window.addEventListener('resize',function(){show([]);});
document.documentElement.dataset.rendered='yes';
})();
""".replace("HUE_FROM", str(HUE_FROM)).replace("HUE_SPAN", str(HUE_SPAN))

CATCH = ("window.__errors=[];window.addEventListener('error',function(e){window.__errors.push(String(e.message));"
         "document.documentElement.dataset.errors=window.__errors.join(' | ');});")


def render(r: dict) -> str:
    size = r["size"]
    parts = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>distill report: {_h(r['image'])}"
             f"</title><style>{CSS}</style><script>{CATCH}</script></head><body>",
             f"<h1>{_h(r['image'])}</h1><p class='muted'>{human(size['size'])} in {len(size['layers'])} layers; "
             f"files {human(size['files'])}, wasted {human(size['wasted_bytes'])}, efficiency "
             f"{100 * size['efficiency']:.2f}% &middot; distill {__version__}</p>"]
    parts.append(_check(r.get("check")))
    parts.append("<h2>Filesystem</h2><p class='muted'>Each box a file or directory, by size, coloured by the "
                 "layer that wrote it (a directory: the layer that wrote most of it). Click a directory to open "
                 "it.</p><div id='crumbs'></div><div id='map'><noscript>The treemap needs JavaScript; the "
                 "tables below do not.</noscript></div>")
    parts.append(_layers(size))
    parts.append(_stages(r.get("stages")))
    parts.append(_table("Largest files", ["size", "path", "layer"],
                        [(human(f["size"]), f["path"], f["layer"]) for f in size["largest"]]))
    parts.append(_table("Wasted: hidden by a later layer", ["bytes", "path", "copies in layers"],
                        [(human(w["bytes"]), w["path"], ", ".join(str(c["layer"]) for c in w["copies"]))
                         for w in size["wasted"]], "Nothing: no layer hides another's files."))
    parts.append(_lint(r.get("lint")))
    parts.append(_vulns(r.get("scan")))
    parts.append(_sbom(r.get("sbom")))
    data = json.dumps(r["tree"], separators=(",", ":")).replace("<", "\\u003c")
    parts.append(f"<script id='tree' type='application/json'>{data}</script><script>{SCRIPT}</script>")
    parts.append("</body></html>\n")
    return "".join(parts)


def _table(title: str, heads: list[str], rows: list[tuple], empty: str = "None.") -> str:
    if not rows:
        return f"<h2>{_h(title)}</h2><p class='muted'>{_h(empty)}</p>"
    head = "".join(f"<th>{_h(h)}</th>" for h in heads)
    body = "".join("<tr>" + "".join(f"<td>{_h(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<h2>{_h(title)}</h2><table><tr>{head}</tr>{body}</table>"


def _layers(size: dict) -> str:
    biggest = max([l["size"] for l in size["layers"]] + [1])
    rows = []
    for i, l in enumerate(size["layers"]):
        width = 100 * l["size"] / biggest
        waste = 100 * l["wasted_bytes"] / l["size"] if l["size"] else 0
        where = f"{l['stage']}:{l['line']}" if l["stage"] else "base"
        rows.append(f"<tr><td><span class='sw' style='background:{colour(i)}'></span> {i}</td>"
                    f"<td style='width:30%'><div class='bar' style='width:{width:.2f}%'><span style='width:100%;"
                    f"background:{colour(i)}'></span><span class='waste' style='width:{waste:.2f}%'></span></div>"
                    f"</td><td class='num'>{human(l['size'])}</td><td class='num'>{human(l['wasted_bytes'])}</td>"
                    f"<td>{_h(where)}</td><td><code>{_h(' '.join(l['created_by'].split())[:200])}</code></td></tr>")
    return ("<h2>Layers</h2><table><tr><th>layer</th><th>size (red: wasted)</th><th>size</th><th>wasted</th>"
            "<th>stage:line</th><th>created by</th></tr>" + "".join(rows) + "</table>")


def _stages(st: dict | None) -> str:
    if not st:
        return "<h2>Builder stages</h2><p class='muted'>No build record: built elsewhere, or a single stage.</p>"
    rows = []
    for s in st["stages"]:
        pk = "; ".join(f"{eco}: {len(names)} ({', '.join(list(names)[:8])}{', ...' if len(names) > 8 else ''})"
                       for eco, names in s["packages_kept_out"].items()) or "none"
        rows.append((s["stage"], human(s["size"]), human(s["kept_out"]["bytes"]), s["kept_out"]["count"], pk))
    return _table("What the multi-stage build kept out", ["stage", "stage size", "kept out", "entries",
                                                           "packages kept out"], rows,
                  "A single-stage build: nothing was kept out.")


def _check(report: dict | None) -> str:
    if report is None:
        return ""
    verdict = "<span class='ok'>will start</span>" if report["verdict"] == "ok" else \
        "<span class='fail'>will NOT start</span>"
    rows = "".join(f"<li><b>{_h(f['severity'])}</b> {_h(f['rule'])}: {_h(f['message'])}</li>"
                   for f in report["findings"])
    return f"<h2>Will it start?</h2><p>{verdict} (distill check)</p>" + (f"<ul>{rows}</ul>" if rows else "")


def _lint(findings: list | None) -> str:
    if findings is None:
        return "<h2>Dockerfile lint</h2><p class='muted'>The Dockerfile of this build is not at hand.</p>"
    return _table("Dockerfile lint", ["line", "severity", "rule", "message"],
                  [(f["line"], f["severity"], f["rule"] + (f" ({', '.join(f['aliases'])})" if f["aliases"] else ""),
                    f["message"]) for f in findings], "No findings.")


def _vulns(findings: list | None) -> str:
    if findings is None:
        return ("<h2>Vulnerabilities</h2><p class='muted'>No vulnerability database in the store: "
                "<code>distill db import</code> loads OSV's records.</p>")
    return _table(f"Vulnerabilities ({len(findings)})", ["id", "package", "installed", "fixed in", "severity",
                                                         "stage:line"],
                  [(f["id"], f["package"] + (f" ({f['source']})" if f.get("source") else ""), f["installed"],
                    ", ".join(f["fixed"]) or "-", f["severity"], f"{f['stage']}:{f['line']}" if f.get("stage") else
                    "base") for f in findings], "None that the local database knows of.")


def _sbom(components: list | None) -> str:
    if components is None:
        return ""
    counts = {}
    for c in components:
        counts[c["type"]] = counts.get(c["type"], 0) + 1
    title = f"Packages ({', '.join(f'{n} {t}' for t, n in sorted(counts.items())) or 'none'})"
    return _table(title, ["name", "version", "type", "licence", "stage:line"],
                  [(c["name"], c["version"], c["type"], c.get("license") or "",
                    f"{c['stage']}:{c['line']}" if c.get("stage") else "base") for c in components],
                  "No package database in the image.")
