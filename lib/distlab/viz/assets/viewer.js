/* distlab viewer: draws a run stored as data (RunPicture.to_data) in the page.
 *
 * Mirrors distlab/viz/svg.py element for element (the ring with message marks and a legend,
 * the space-time diagram, the list of messages in flight), so a replay looks like the
 * notebook widget. No network, no libraries. Keys: left/right step, space plays.
 */
(function () {
  'use strict';
  var HL = '#dc2626';

  function num(x) {
    var t = x.toFixed(1);
    if (t.slice(-2) === '.0') { t = t.slice(0, -2); }
    return t === '-0' ? '0' : t;
  }
  function esc(s) {
    return String(s).replace(/&/g, '&amp;').replace(/[<]/g, '&lt;').replace(/>/g, '&gt;')
      .replace(/"/g, '&quot;').replace(/'/g, '&#x27;');
  }
  function cmp(a, b) { return a < b ? -1 : a > b ? 1 : 0; }

  function Picture(data) {
    this.d = data;
    var g = data.geometry;
    this.CW = g.card[0]; this.CH = g.card[1]; this.OW = g.other[0]; this.OH = g.other[1];
    this.R = g.mark; this.OFF = g.offset; this.WINDOW = g.window; this.ST_W = g.st_w;
    this.nodes = data.layout.nodes;
    this.lanes = this.nodes.map(function (n) { return n[0]; });
    this.isServer = {};
    var self = this;
    this.nodes.forEach(function (n) { self.isServer[n[0]] = n[3]; });
  }

  Picture.prototype.msg = function (row) {
    var m = this.d.messages[row];
    return {row: row, id: m[0], src: m[1], dst: m[2], label: m[3], family: m[4], start: m[5], sent_at: m[6],
            end: m[7] < 0 ? null : m[7], end_time: m[8] < 0 ? null : m[8], fate: m[9], copies: 1};
  };
  Picture.prototype.inFlight = function (i) {
    var self = this;
    return this.d.frames[i].f.map(function (x) {
      var m;
      if (Array.isArray(x)) { m = self.msg(x[0]); m.copies = x[1]; } else { m = self.msg(x); }
      return m;
    });
  };
  Picture.prototype.progress = function (m, now) {
    if (m.end_time === null || m.end_time <= m.sent_at) { return 0.5; }
    return Math.min(0.9, Math.max(0.1, (now - m.sent_at) / (m.end_time - m.sent_at)));
  };
  Picture.prototype.messageText = function (m) {
    var copies = m.copies > 1 ? ' (×' + m.copies + ')' : '';
    return '#' + m.id + ' ' + m.src + '→' + m.dst + ': ' + m.label + copies + ' · sent at ' + m.sent_at + ' ms';
  };

  function crosses(groups, cuts, src, dst) {
    if (groups && groups.length) {
      var where = {};
      groups.forEach(function (g, i) { g.forEach(function (n) { where[n] = i; }); });
      var a = src in where ? where[src] : -1, b = dst in where ? where[dst] : -1;
      if (a !== b) { return true; }
    }
    return (cuts || []).some(function (c) { return c[0] === src && c[1] === dst; });
  }
  function clip(dx, dy, hw, hh) {
    var tx = dx ? hw / Math.abs(dx) : Infinity, ty = dy ? hh / Math.abs(dy) : Infinity;
    return Math.min(tx, ty);
  }
  function spread(ps, gap) {
    var out = [];
    ps.forEach(function (p) { out.push(out.length ? Math.max(p, out[out.length - 1] + gap) : p); });
    if (out.length && out[out.length - 1] > 0.9) {
      var shift = out[out.length - 1] - 0.9;
      out = out.map(function (p) { return Math.max(0.1, p - shift); });
    }
    return out;
  }

  Picture.prototype.ring = function (i) {
    var self = this, d = this.d, f = d.frames[i], col = d.colours;
    var box = d.layout.box, legendH = 44;
    var out = ['<svg xmlns="http://www.w3.org/2000/svg" class="dl-ring-svg" viewBox="' + num(box[0]) + ' ' +
      num(box[1]) + ' ' + num(box[2]) + ' ' + num(box[3] + legendH) +
      '" font-family="Helvetica, Arial, sans-serif" data-frame="' + i + '">'];
    var cards = {};
    f.c.forEach(function (k) { var c = d.cards[k]; cards[String(c[0])] = c; });
    var pos = {}, half = {};
    this.nodes.forEach(function (n) {
      pos[n[0]] = [n[1], n[2]];
      half[n[0]] = cards[n[0]] ? [self.CW / 2 + 3, self.CH / 2 + 3] : [self.OW / 2 + 3, self.OH / 2 + 3];
    });
    var links = {}, keys = [], selfs = {}, selfKeys = [];
    this.inFlight(i).forEach(function (m) {
      if (!(m.src in pos) || !(m.dst in pos)) { return; }
      if (m.src === m.dst) {
        if (!selfs[m.src]) { selfs[m.src] = []; selfKeys.push(m.src); }
        selfs[m.src].push(m);
      } else {
        var k = m.src + '\u0000' + m.dst;
        if (!links[k]) { links[k] = {s: m.src, d: m.dst, ms: []}; keys.push(k); }
        links[k].ms.push(m);
      }
    });
    var handled = f.h !== undefined ? this.msg(f.h) : null, hkey = null;
    if (handled && handled.src in pos && handled.dst in pos && handled.src !== handled.dst) {
      hkey = handled.src + '\u0000' + handled.dst;
      if (!links[hkey]) { links[hkey] = {s: handled.src, d: handled.dst, ms: []}; keys.push(hkey); }
    }
    keys.sort(function (a, b) {
      var ha = a === hkey ? 0 : 1, hb = b === hkey ? 0 : 1;
      if (ha !== hb) { return ha - hb; }
      return cmp(links[a].s, links[b].s) || cmp(links[a].d, links[b].d);
    });
    var linkParts = [], markParts = [];
    keys.forEach(function (key) {
      var L = links[key], s = L.s, t = L.d;
      var x1 = pos[s][0], y1 = pos[s][1], x2 = pos[t][0], y2 = pos[t][1];
      var dx = x2 - x1, dy = y2 - y1, len = Math.hypot(dx, dy) || 1;
      var ox = -dy / len * self.OFF, oy = dx / len * self.OFF;
      var t1 = clip(dx, dy, half[s][0], half[s][1]), t2 = 1 - clip(-dx, -dy, half[t][0], half[t][1]);
      var ax = x1 + dx * t1 + ox, ay = y1 + dy * t1 + oy, bx = x1 + dx * t2 + ox, by = y1 + dy * t2 + oy;
      var lost = crosses(f.g, f.x, s, t);
      var cls = lost ? 'link lost' : 'link', colour = lost ? HL : '#94a3b8';
      var dash = lost ? ' stroke-dasharray="5 3"' : '';
      if (key === hkey) { cls += ' handled'; }
      var width = key === hkey ? '2.2' : '1', stroke = key === hkey ? HL : colour;
      linkParts.push('<line class="' + cls + '" x1="' + num(ax) + '" y1="' + num(ay) + '" x2="' + num(bx) +
        '" y2="' + num(by) + '" stroke="' + stroke + '" stroke-width="' + width + '"' + dash + '/>');
      var seg = Math.hypot(bx - ax, by - ay) || 1;
      var ms = L.ms.slice().sort(function (a, b) {
        return (self.progress(a, f.t) - self.progress(b, f.t)) || (a.id - b.id);
      });
      var ps = spread(ms.map(function (m) { return self.progress(m, f.t); }), (2 * self.R + 2) / seg);
      ms.forEach(function (m, j) {
        markParts.push(self.mark(m, ax + (bx - ax) * ps[j], ay + (by - ay) * ps[j], lost));
      });
      if (key === hkey) {
        var dropped = !!f.hx, p = dropped ? 0.5 : 1.0;
        markParts.push(self.handledMark(handled, ax + (bx - ax) * p, ay + (by - ay) * p, dropped));
      }
    });
    selfKeys.sort(cmp).forEach(function (s) {
      var x = pos[s][0], y = pos[s][1], hw = half[s][0], hh = half[s][1];
      selfs[s].slice().sort(function (a, b) { return a.id - b.id; }).forEach(function (m, k) {
        markParts.push(self.mark(m, x + hw - self.R - k * (2 * self.R + 2), y - hh - self.R - 1, false));
      });
    });
    out.push('<g class="links">' + linkParts.join('') + '</g>');
    var groupOf = {};
    (f.g || []).forEach(function (g, k) { g.forEach(function (n) { groupOf[n] = k; }); });
    var actor = f.a === undefined ? null : f.a, nodeParts = [];
    this.nodes.forEach(function (n) {
      var key = n[0], c = cards[key], grp = key in groupOf ? groupOf[key] : null;
      nodeParts.push(c ? self.card(c, n[1], n[2], key === actor, grp) : self.other(key, n[1], n[2], key === actor, grp));
    });
    out.push('<g class="nodes">' + nodeParts.join('') + '</g>');
    out.push('<g class="marks">' + markParts.join('') + '</g>');
    out.push(this.legend(box[0], box[1] + box[3], box[2]));
    out.push('</svg>');
    return out.join('');
  };

  Picture.prototype.mark = function (m, x, y, lost) {
    var colour = this.d.colours.mark[m.family], stroke = lost ? HL : '#ffffff';
    return '<g class="mark" data-msg="' + m.id + '"><title>' + esc(this.messageText(m)) + '</title><circle cx="' +
      num(x) + '" cy="' + num(y) + '" r="' + num(this.R) + '" fill="' + colour + '" stroke="' + stroke +
      '" stroke-width="1.2"/></g>';
  };
  Picture.prototype.handledMark = function (m, x, y, dropped) {
    var verb = dropped ? 'lost' : 'delivered', shape;
    var tip = esc(verb + ' now: #' + m.id + ' ' + m.src + '→' + m.dst + ': ' + m.label);
    if (dropped) {
      shape = '<path d="M' + num(x - 5) + ' ' + num(y - 5) + 'L' + num(x + 5) + ' ' + num(y + 5) + 'M' + num(x - 5) +
        ' ' + num(y + 5) + 'L' + num(x + 5) + ' ' + num(y - 5) + '" stroke="' + HL + '" stroke-width="2.4"/>';
    } else {
      shape = '<circle cx="' + num(x) + '" cy="' + num(y) + '" r="' + num(this.R + 1) + '" fill="' + HL +
        '" stroke="#ffffff" stroke-width="1.2"/>';
    }
    return '<g class="mark handled" data-msg="' + m.id + '"><title>' + tip + '</title>' + shape + '</g>';
  };
  Picture.prototype.card = function (c, x, y, acting, group) {
    var CW = this.CW, CH = this.CH, x0 = x - CW / 2, y0 = y - CH / 2;
    var parts = ['<g class="server" data-sid="' + c[0] + '" data-status="' + esc(c[8]) + '"><title>' + esc(c[7]) + '</title>'];
    if (group !== null) {
      var gc = this.d.colours.group;
      parts.push('<rect x="' + num(x0 - 4) + '" y="' + num(y0 - 4) + '" width="' + num(CW + 8) + '" height="' +
        num(CH + 8) + '" rx="9" fill="none" stroke="' + gc[group % gc.length] + '" stroke-width="2.5"/>');
    }
    var stroke = acting ? HL : '#475569', width = acting ? '3' : '1', dash = c[2] ? '' : ' stroke-dasharray="4 3"';
    parts.push('<rect x="' + num(x0) + '" y="' + num(y0) + '" width="' + num(CW) + '" height="' + num(CH) +
      '" rx="6" fill="' + c[1] + '" stroke="' + stroke + '" stroke-width="' + width + '"' + dash + '/>');
    parts.push('<text class="label title" x="' + num(x) + '" y="' + num(y0 + 13) +
      '" text-anchor="middle" font-size="10.5" font-weight="bold" fill="#0f172a">' + esc(c[3]) + '</text>');
    [c[4], c[5], c[6]].forEach(function (line, k) {
      parts.push('<text class="label" x="' + num(x) + '" y="' + num(y0 + 26 + 11 * k) +
        '" text-anchor="middle" font-size="9" fill="#1e293b">' + esc(line) + '</text>');
    });
    parts.push('</g>');
    return parts.join('');
  };
  Picture.prototype.other = function (name, x, y, acting, group) {
    var stroke = acting ? HL : '#475569', width = acting ? '3' : '1';
    if (group !== null && !acting) { var gc = this.d.colours.group; stroke = gc[group % gc.length]; width = '2.5'; }
    return '<g class="other" data-node="' + esc(name) + '"><title>' + esc(name) + '</title><ellipse cx="' + num(x) +
      '" cy="' + num(y) + '" rx="' + num(this.OW / 2) + '" ry="' + num(this.OH / 2) + '" fill="#f8fafc" stroke="' +
      stroke + '" stroke-width="' + width + '"/><text class="label" x="' + num(x) + '" y="' + num(y + 3.5) +
      '" text-anchor="middle" font-size="10" fill="#0f172a">' + esc(name.slice(0, 14)) + '</text></g>';
  };
  Picture.prototype.legend = function (x, y, width) {
    var col = this.d.colours, out = ['<g class="legend" font-size="8.5" fill="#334155">'], step = width / 6;
    ['LOOKING', 'FOLLOWING', 'LEADING', 'OBSERVING', 'CRASHED', 'NOT STARTED'].forEach(function (name, k) {
      var lx = x + 6 + k * step;
      out.push('<rect x="' + num(lx) + '" y="' + num(y + 3) + '" width="10" height="9" rx="2" fill="' + col.state[name] +
        '" stroke="#475569" stroke-width="0.6"/><text class="legend-label" x="' + num(lx + 13) + '" y="' + num(y + 11) +
        '">' + esc(name) + '</text>');
    });
    ['election', 'discovery', 'sync', 'broadcast', 'ping', 'client'].forEach(function (name, k) {
      var lx = x + 6 + k * step;
      out.push('<circle cx="' + num(lx + 5) + '" cy="' + num(y + 21) + '" r="4" fill="' + col.mark[name] +
        '"/><text class="legend-label" x="' + num(lx + 13) + '" y="' + num(y + 24) + '">' + esc(name) + '</text>');
    });
    var step3 = width / 3;
    ['red border: acts now', 'red dot: delivered now', 'dashed red: will be lost'].forEach(function (name, k) {
      var lx = x + 6 + k * step3, dash = k === 2 ? ' stroke-dasharray="3 2"' : '';
      out.push('<line x1="' + num(lx) + '" y1="' + num(y + 34) + '" x2="' + num(lx + 10) + '" y2="' + num(y + 34) +
        '" stroke="' + HL + '" stroke-width="2"' + dash + '/><text class="legend-label" x="' + num(lx + 13) +
        '" y="' + num(y + 37) + '">' + esc(name) + '</text>');
    });
    out.push('</g>');
    return out.join('');
  };

  // ---------------------------------------------------------------- space-time --------------
  Picture.prototype.window = function (i) {
    var total = this.d.frames.length;
    if (total <= this.WINDOW) { return [0, total]; }
    var start = Math.max(0, Math.min(total - this.WINDOW, i - Math.floor(this.WINDOW / 2)));
    return [start, start + this.WINDOW];
  };
  Picture.prototype.geom = function (w0, w1) {
    var laneH = this.lanes.length <= 6 ? 18 : 13, left = 30, top = 14, dx = (this.ST_W - left - 4) / Math.max(w1 - w0, 1);
    var laneY = {};
    this.lanes.forEach(function (n, k) { laneY[n] = top + laneH * k + laneH / 2; });
    return {laneH: laneH, left: left, top: top, dx: dx, laneY: laneY, height: top + laneH * this.lanes.length + 4,
            X: function (f) { return (f - w0 + 0.5) * dx; }};
  };
  Picture.prototype.stBase = function (w0, w1) {
    var self = this, d = this.d, G = this.geom(w0, w1), X = G.X, parts = [], inner = [], total = d.frames.length;
    this.lanes.forEach(function (n) {
      var name = self.isServer[n] ? 'S' + n : n.slice(0, 6);
      parts.push('<text x="2" y="' + num(G.laneY[n] + 3) + '" font-size="9" fill="#0f172a">' + esc(name) + '</text>');
    });
    this.lanes.forEach(function (n) {
      var y = G.laneY[n];
      inner.push('<line x1="0" y1="' + num(y) + '" x2="' + num(self.ST_W - G.left) + '" y2="' + num(y) + '" stroke="#e2e8f0"/>');
      if (!self.isServer[n]) { return; }
      var runStart = w0, status = null;
      for (var fi = w0; fi <= w1; fi++) {
        var st = fi < w1 ? self.statusOf(fi, n) : null;
        if (fi === w1 || st !== status) {
          if (status !== null && status !== 'NOT STARTED') {
            inner.push('<rect x="' + num(X(runStart) - G.dx / 2) + '" y="' + num(y - 3) + '" width="' +
              num((fi - runStart) * G.dx) + '" height="6" fill="' + (d.colours.state[status] || '#ffffff') + '"/>');
          }
          if (fi < w1) { runStart = fi; status = st; }
        }
      }
    });
    d.messages.forEach(function (_, row) {
      var m = self.msg(row);
      if (!(m.src in G.laneY) || !(m.dst in G.laneY) || m.src === m.dst) { return; }
      var end = m.end === null ? total - 1 : m.end;
      if (m.start >= w1 || end < w0) { return; }
      inner.push('<line class="st-msg" data-start="' + m.start + '" x1="' + num(X(m.start)) + '" y1="' + num(G.laneY[m.src]) +
        '" x2="' + num(X(end)) + '" y2="' + num(G.laneY[m.dst]) + '" stroke="#94a3b8" stroke-width="0.7"/>');
      if (m.fate === 'x') {
        var x = X(end), y = (G.laneY[m.src] + G.laneY[m.dst]) / 2;
        inner.push('<path d="M' + num(x - 3) + ' ' + num(y - 3) + 'L' + num(x + 3) + ' ' + num(y + 3) + 'M' + num(x - 3) +
          ' ' + num(y + 3) + 'L' + num(x + 3) + ' ' + num(y - 3) + '" stroke="#475569" stroke-width="1.2"/>');
      }
    });
    return parts.join('') + '<svg x="' + num(G.left) + '" y="0" width="' + num(this.ST_W - G.left) + '" height="' +
      num(G.height) + '" overflow="hidden"><g class="st-base">' + inner.join('') + '</g></svg>';
  };
  Picture.prototype.statusOf = function (fi, sid) {
    var d = this.d, ids = d.frames[fi].c;
    for (var k = 0; k < ids.length; k++) { var c = d.cards[ids[k]]; if (String(c[0]) === sid) { return c[8]; } }
    return null;
  };
  Picture.prototype.spacetime = function (i) {
    var self = this, d = this.d, w = this.window(i), w0 = w[0], w1 = w[1];
    this.bases = this.bases || {};
    if (!(w0 in this.bases)) { this.bases[w0] = this.stBase(w0, w1); }
    var G = this.geom(w0, w1), X = G.X, f = d.frames[i], total = d.frames.length, live = [];
    this.inFlight(i).forEach(function (m) {
      if (m.src in G.laneY && m.dst in G.laneY && m.src !== m.dst) {
        var end = m.end === null ? total - 1 : m.end;
        live.push('<line class="st-live" x1="' + num(X(m.start)) + '" y1="' + num(G.laneY[m.src]) + '" x2="' + num(X(end)) +
          '" y2="' + num(G.laneY[m.dst]) + '" stroke="' + d.colours.mark[m.family] + '" stroke-width="1.6"/>');
      }
    });
    if (f.h !== undefined) {
      var h = this.msg(f.h);
      if (h.src in G.laneY && h.dst in G.laneY && h.src !== h.dst) {
        live.push('<line class="st-handled" x1="' + num(X(h.start)) + '" y1="' + num(G.laneY[h.src]) + '" x2="' + num(X(i)) +
          '" y2="' + num(G.laneY[h.dst]) + '" stroke="' + HL + '" stroke-width="2.2"/>');
      }
    }
    var cursor = '<line class="st-cursor" x1="' + num(X(i)) + '" y1="0" x2="' + num(X(i)) + '" y2="' + num(G.height) +
      '" stroke="' + HL + '" stroke-width="1.5"/>';
    var label = '<text x="' + num(this.ST_W - 4) + '" y="10" text-anchor="end" font-size="9" fill="#475569">frames ' +
      (w0 + 1) + '–' + w1 + ' of ' + total + ' · now ' + (i + 1) + '</text>';
    return '<svg xmlns="http://www.w3.org/2000/svg" class="dl-st-svg" viewBox="0 0 ' + num(this.ST_W) + ' ' + num(G.height) +
      '" font-family="Helvetica, Arial, sans-serif" data-frame="' + i + '">' + this.bases[w0] + label + '<svg x="' +
      num(G.left) + '" y="0" width="' + num(this.ST_W - G.left) + '" height="' + num(G.height) +
      '" overflow="hidden"><g class="st-live">' + live.join('') + '</g>' + cursor + '</svg></svg>';
  };
  Picture.prototype.inflightHtml = function (i) {
    var self = this, f = this.d.frames[i], rows = [], ms = this.inFlight(i);
    if (f.h !== undefined) {
      var h = this.msg(f.h), verb = f.hx ? 'lost now' : 'delivered now';
      rows.push('<li class="handled" data-msg="' + h.id + '"><span class="dot" style="background:' + HL + '"></span>' +
        esc(verb) + ': #' + h.id + ' ' + esc(h.src) + '→' + esc(h.dst) + ': ' + esc(h.label) + '</li>');
    }
    ms.forEach(function (m) {
      var lost = crosses(f.g, f.x, m.src, m.dst), tail = lost ? ' — will be lost (partition)' : '';
      rows.push('<li data-msg="' + m.id + '"' + (lost ? ' class=lost' : '') + '><span class="dot" style="background:' +
        self.d.colours.mark[m.family] + '"></span>' + esc(self.messageText(m)) + esc(tail) + '</li>');
    });
    if (!rows.length) { return '<p class="dl-empty">no message is in flight at this moment</p>'; }
    return '<p class="dl-count">' + ms.length + ' in flight</p><ul class="dl-msgs">' + rows.join('') + '</ul>';
  };

  // ---------------------------------------------------------------- the page ----------------
  function explanation(text, origin) {  // widget.explanation_html
    if (!origin) { return esc(text); }
    if (text.indexOf('(by hand)') === 0) { text = text.slice(9).replace(/^\s+/, ''); origin = 'by hand: ' + origin; }
    return '<span class="dl-origin">(' + esc(origin) + ')</span> ' + esc(text);
  }
  function start() {
    var node = document.getElementById('frames');
    if (!node) { return; }
    var data = JSON.parse(node.textContent), pic = new Picture(data), frames = data.frames, total = frames.length;
    var $ = function (id) { return document.getElementById(id); };
    var slider = $('slider'), timer = null, tab = 'messages', index = 0;
    slider.min = 1; slider.max = total;
    function say(text) { $('status').innerHTML = text ? '<span class="dl-why">' + esc(text) + '</span>' : ''; }
    function pane() {
      var f = frames[index];
      if (tab === 'messages') { $('pane').innerHTML = pic.inflightHtml(index); }
      else if (tab === 'sync') { $('pane').innerHTML = data.syncs[f.s]; }
      else { $('pane').innerHTML = f.n ? '<div class="dl-notes">' + esc(f.n) + '</div>' : '<p class="dl-empty">no trace notes in this frame</p>'; }
      var buttons = document.querySelectorAll('.dl-tabs button');
      for (var k = 0; k < buttons.length; k++) {
        buttons[k].className = buttons[k].getAttribute('data-tab') === tab ? 'dl-on' : '';
      }
      $('tab-messages').textContent = 'in flight (' + f.f.length + ')';
    }
    function show(i) {
      index = Math.max(0, Math.min(total - 1, i));
      var f = frames[index];
      slider.value = String(index + 1);
      $('picture').innerHTML = pic.ring(index);
      $('spacetime').innerHTML = pic.spacetime(index);
      $('explanation').innerHTML = explanation(f.e, f.o);
      $('label').textContent = 'frame ' + (index + 1) + ' / ' + total + ' · t = ' + f.t + ' ms';
      pane();
      document.body.setAttribute('data-frame', String(index));
    }
    function move(i, why) {
      if (i < 0 || i > total - 1 || i === index) { say(why); return; }
      say(''); show(i);
    }
    function nextChange() {
      for (var j = index + 1; j < total; j++) { if (frames[j].ch) { return j; } }
      return -1;
    }
    function stop() { if (timer) { clearInterval(timer); timer = null; } $('play').textContent = 'play ▷'; }
    function play() {
      if (timer) { stop(); say('paused at frame ' + (index + 1)); return; }
      if (index >= total - 1) { say('this is the last frame: move the slider back to play again'); return; }
      say('');
      $('play').textContent = 'pause ❚❚';
      timer = setInterval(function () { if (index >= total - 1) { stop(); return; } show(index + 1); }, 400);
    }
    slider.addEventListener('input', function () { say(''); show(parseInt(slider.value, 10) - 1); });
    $('back').addEventListener('click', function () { move(index - 1, 'this is the first frame'); });
    $('step').addEventListener('click', function () { move(index + 1, 'this is the last frame'); });
    $('next').addEventListener('click', function () {
      var j = nextChange();
      move(j, 'no server changes state after this frame');
    });
    $('play').addEventListener('click', play);
    var buttons = document.querySelectorAll('.dl-tabs button');
    for (var k = 0; k < buttons.length; k++) {
      buttons[k].addEventListener('click', function (e) { tab = e.currentTarget.getAttribute('data-tab'); pane(); });
    }
    $('pane').addEventListener('mouseover', function (e) {
      var li = e.target.closest ? e.target.closest('li[data-msg]') : null;
      var old = document.querySelectorAll('.dl-hot');
      for (var k = 0; k < old.length; k++) { old[k].classList.remove('dl-hot'); }
      if (li) {
        var mark = document.querySelector('#picture .mark[data-msg="' + li.getAttribute('data-msg') + '"]');
        if (mark) { mark.classList.add('dl-hot'); }
      }
    });
    document.addEventListener('keydown', function (e) {
      if (e.target === slider) { return; }
      if (e.key === 'ArrowRight') { move(index + 1, 'this is the last frame'); }
      else if (e.key === 'ArrowLeft') { move(index - 1, 'this is the first frame'); }
      else if (e.key === ' ') { e.preventDefault(); play(); }
    });
    show(0);
    window.distlabViewer = {show: show, picture: pic, get index() { return index; }};
  }

  if (typeof window !== 'undefined') {
    window.DistlabPicture = Picture;
    if (document.readyState === 'loading') { document.addEventListener('DOMContentLoaded', start); } else { start(); }
  }
})();
