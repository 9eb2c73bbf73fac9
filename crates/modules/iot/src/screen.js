// Ward screen (病区监护大屏): live vitals and alarms by server-sent events.
(function () {
  var body = document.body;
  var url = body.getAttribute('data-stream');
  if (!url || !window.EventSource) return;
  var state = document.getElementById('live-state');
  var canAck = body.getAttribute('data-can-ack') === 'true';
  var csrf = body.getAttribute('data-csrf');
  function fmt(v, d) { return v === null || v === undefined ? '—' : Number(v).toFixed(d); }
  function set(tile, k, text) { var el = tile.querySelector('[data-k="' + k + '"]'); if (el) el.textContent = text; }
  function onReading(e) {
    var r = JSON.parse(e.data);
    var tile = document.querySelector('[data-device="' + r.device_id + '"]');
    if (!tile) return;
    set(tile, 'hr', fmt(r.hr, 0));
    set(tile, 'spo2', fmt(r.spo2, 0));
    set(tile, 'temp', fmt(r.temp, 1));
    set(tile, 'bp', fmt(r.sbp, 0) + '/' + fmt(r.dbp, 0));
    set(tile, 'at', r.time || '');
    if (r.news2_text) set(tile, 'news2', r.news2_text);
    tile.classList.remove('offline', 'alert', 'warn');
    if (r.news2 !== null && r.news2 !== undefined) {
      if (r.news2 >= 7) tile.classList.add('alert'); else if (r.news2 >= 5) tile.classList.add('warn');
    }
    tile.classList.add('fresh');
    setTimeout(function () { tile.classList.remove('fresh'); }, 800);
  }
  function button(id, action, label, cls) {
    var f = document.createElement('form');
    f.method = 'post'; f.action = '/iot/alarms/' + id + '/' + action; f.className = 'inline';
    f.innerHTML = '<input type="hidden" name="_csrf"><input type="hidden" name="back" value="screen"><button type="submit"></button>';
    f.querySelector('[name=_csrf]').value = csrf;
    var b = f.querySelector('button'); b.textContent = label; if (cls) b.className = cls;
    return f;
  }
  function onAlarm(e) {
    var a = JSON.parse(e.data);
    var list = document.getElementById('alarms');
    var old = list.querySelector('[data-alarm="' + a.id + '"]');
    if (old) old.remove();
    if (a.status !== 'resolved') {
      var li = document.createElement('li');
      li.className = 'al al-' + a.priority + ' st-' + a.status;
      li.setAttribute('data-alarm', a.id);
      var head = document.createElement('div');
      var strong = document.createElement('strong'); strong.textContent = a.title;
      head.textContent = '【' + a.label + ' · ' + a.status_label + '】 ';
      head.appendChild(strong);
      var line = document.createElement('div'); line.textContent = a.bed + ' ' + (a.person_name || '') + ' · ' + a.detail;
      var when = document.createElement('div'); when.className = 'muted'; when.textContent = a.time || '';
      li.appendChild(head); li.appendChild(line); li.appendChild(when);
      if (canAck) {
        var act = document.createElement('div'); act.className = 'al-actions';
        if (a.status === 'raised') act.appendChild(button(a.id, 'ack', '确认'));
        act.appendChild(button(a.id, 'resolve', '解除', 'secondary'));
        li.appendChild(act);
      }
      list.insertBefore(li, list.firstChild);
      if (a.priority === 'high' && a.status === 'raised') document.title = '【告警】' + document.title.replace(/^【告警】/, '');
    }
    document.getElementById('alarm-count').textContent = list.children.length;
  }
  function connect() {
    var es = new EventSource(url);
    es.onopen = function () { if (state) state.textContent = '实时更新中'; };
    es.onerror = function () { if (state) state.textContent = '连接中断，正在重连…'; };
    es.addEventListener('reading', onReading);
    es.addEventListener('alarm', onAlarm);
    es.addEventListener('resync', function () { location.reload(); });
  }
  connect();
  // The whole picture is read again every 5 minutes (offline beds, another node's events).
  setTimeout(function () { location.reload(); }, 300000);
})();
