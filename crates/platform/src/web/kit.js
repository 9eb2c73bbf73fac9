// Yiyang UI kit: column chooser, batch selection, loading state, confirmations, dialogs,
// sidebar collapse, phone menu and charts. Loaded from the binary (CSP: script-src 'self';
// no inline script anywhere). Every page works without it; it only adds comfort.
(function () {
  'use strict';
  var body = document.body;
  body.classList.add('js');

  function load(key) {
    try { return window.localStorage.getItem(key); } catch (e) { return null; }
  }
  function save(key, value) {
    try { window.localStorage.setItem(key, value); } catch (e) { /* private mode: not remembered */ }
  }
  function each(sel, root, fn) {
    Array.prototype.forEach.call((root || document).querySelectorAll(sel), fn);
  }

  // Column chooser: <details data-cols-for="list"> with <input data-col-toggle="key">;
  // cells carry data-col="key". The choice is remembered per list in localStorage.
  each('[data-cols-for]', null, function (box) {
    var id = box.getAttribute('data-cols-for');
    var table = document.querySelector('table[data-table="' + id + '"]');
    if (!table) { return; }
    var key = 'yy-cols:' + id;
    var saved = null;
    try { saved = JSON.parse(load(key) || 'null'); } catch (e) { saved = null; }
    function apply(col, on) {
      each('[data-col="' + col + '"]', table, function (c) { c.hidden = !on; });
    }
    function remember() {
      var state = {};
      each('input[data-col-toggle]', box, function (x) { state[x.getAttribute('data-col-toggle')] = x.checked; });
      save(key, JSON.stringify(state));
    }
    each('input[data-col-toggle]', box, function (cb) {
      var col = cb.getAttribute('data-col-toggle');
      cb.setAttribute('data-default', cb.checked ? '1' : '0');
      if (saved && Object.prototype.hasOwnProperty.call(saved, col)) { cb.checked = !!saved[col]; }
      apply(col, cb.checked);
      cb.addEventListener('change', function () { apply(col, cb.checked); remember(); });
    });
    var reset = box.querySelector('[data-cols-reset]');
    if (reset) {
      reset.addEventListener('click', function () {
        each('input[data-col-toggle]', box, function (cb) {
          cb.checked = cb.getAttribute('data-default') === '1';
          apply(cb.getAttribute('data-col-toggle'), cb.checked);
        });
        try { window.localStorage.removeItem(key); } catch (e) { /* nothing to forget */ }
      });
    }
  });

  // Batch selection: row boxes belong to form#batch-… (form= attribute); the buttons stay
  // disabled until something is ticked; the header box ticks the whole page.
  each('form[data-batch]', null, function (form) {
    var id = form.id;
    var all = document.querySelector('input[data-select-all="' + id + '"]');
    var count = form.querySelector('[data-batch-count]');
    function boxes() { return document.querySelectorAll('input[type=checkbox][form="' + id + '"]'); }
    function update() {
      var list = boxes();
      var n = 0;
      Array.prototype.forEach.call(list, function (b) { if (b.checked) { n += 1; } });
      each('button', form, function (b) { b.disabled = n === 0; });
      if (count) { count.textContent = n ? '已选 ' + n + ' 项' : '勾选后可批量操作'; }
      if (all) {
        all.checked = n > 0 && n === list.length;
        all.indeterminate = n > 0 && n < list.length;
      }
    }
    Array.prototype.forEach.call(boxes(), function (b) { b.addEventListener('change', update); });
    if (all) {
      all.addEventListener('change', function () {
        Array.prototype.forEach.call(boxes(), function (b) { b.checked = all.checked; });
        update();
      });
    }
    update();
  });

  // Confirmation before dangerous actions: data-confirm="…" on a button or link.
  document.addEventListener('click', function (e) {
    var el = e.target.closest && e.target.closest('[data-confirm]');
    if (el && !window.confirm(el.getAttribute('data-confirm'))) { e.preventDefault(); }
  });

  // Loading state while a list is fetched again.
  function busy(list) {
    if (list) { list.classList.add('loading'); list.setAttribute('aria-busy', 'true'); }
  }
  each('.kit-list', null, function (list) {
    list.addEventListener('click', function (e) {
      var a = e.target.closest && e.target.closest('a[data-nav]');
      if (a && !e.ctrlKey && !e.metaKey && !e.shiftKey && e.button === 0) { busy(list); }
    });
  });
  each('form.kit-filter', null, function (f) {
    f.addEventListener('submit', function () { busy(document.querySelector('.kit-list')); });
  });
  window.addEventListener('pageshow', function () {
    each('.kit-list.loading', null, function (l) { l.classList.remove('loading'); l.removeAttribute('aria-busy'); });
  });

  // Dialogs: [data-dialog="id"] opens <dialog id>; [data-dialog-close] closes it. A dialog
  // the server sent open (a form with errors) becomes modal.
  document.addEventListener('click', function (e) {
    var opener = e.target.closest && e.target.closest('[data-dialog]');
    if (opener) {
      var d = document.getElementById(opener.getAttribute('data-dialog'));
      if (d && typeof d.showModal === 'function') {
        e.preventDefault();
        if (!d.open) { d.showModal(); }
        var first = d.querySelector('input:not([type=hidden]):not([readonly]), select, textarea');
        if (first) { first.focus(); }
      }
      return;
    }
    var closer = e.target.closest && e.target.closest('[data-dialog-close]');
    if (closer) {
      var dlg = closer.closest('dialog');
      if (dlg) { e.preventDefault(); dlg.close(); }
    }
  });
  // A form that came back with an error names the field: mark it and say why beside it.
  each('dialog[data-error-field]', null, function (d) {
    var name = d.getAttribute('data-error-field');
    var input = d.querySelector('[name="' + name + '"]');
    if (!input || input.getAttribute('aria-invalid') === 'true') { return; }
    input.setAttribute('aria-invalid', 'true');
    var msg = document.createElement('div');
    msg.className = 'field-error';
    msg.id = 'err-' + name;
    msg.textContent = d.getAttribute('data-error');
    input.setAttribute('aria-describedby', msg.id);
    input.parentNode.appendChild(msg);
  });
  each('dialog[open]', null, function (d) {
    if (typeof d.showModal === 'function') {
      d.close();
      d.showModal();
      var bad = d.querySelector('[aria-invalid=true]');
      if (bad) { bad.focus(); }
    }
  });

  // Selects that apply at once (page size, quick filters).
  each('select[data-autosubmit]', null, function (s) {
    s.addEventListener('change', function () { if (s.form) { s.form.submit(); } });
  });

  // Sidebar collapse (remembered) and the phone menu.
  var SIDE = 'yy-side-collapsed';
  var toggle = document.querySelector('[data-side-toggle]');
  if (load(SIDE) === '1') { body.classList.add('side-collapsed'); }
  if (toggle) {
    toggle.hidden = false;
    toggle.setAttribute('aria-expanded', String(!body.classList.contains('side-collapsed')));
    toggle.addEventListener('click', function () {
      var collapsed = body.classList.toggle('side-collapsed');
      save(SIDE, collapsed ? '1' : '0');
      toggle.setAttribute('aria-expanded', String(!collapsed));
    });
  }
  var menu = document.querySelector('[data-menu-toggle]');
  if (menu) {
    menu.hidden = false;
    menu.addEventListener('click', function () {
      var open = body.classList.toggle('menu-open');
      menu.setAttribute('aria-expanded', String(open));
    });
  }

  // Charts: <div data-chart='{…ECharts option…}'>. The library is loaded only on pages
  // that have a chart; large-text mode gets bigger fonts; charts redraw for printing.
  var charts = document.querySelectorAll('[data-chart]');
  if (!charts.length) { return; }
  var src = body.getAttribute('data-echarts');
  if (!src) { return; }
  var script = document.createElement('script');
  script.src = src;
  script.onload = function () {
    var large = body.classList.contains('large-text');
    var all = [];
    Array.prototype.forEach.call(charts, function (el) {
      var option;
      try { option = JSON.parse(el.getAttribute('data-chart')); } catch (e) { return; }
      option.textStyle = option.textStyle || {};
      option.textStyle.fontSize = large ? 18 : 13;
      if (large && option.title && option.title.textStyle) { option.title.textStyle.fontSize = 22; }
      option.animation = false;
      var chart = window.echarts.init(el, null, { renderer: 'svg' });
      chart.setOption(option);
      all.push(chart);
    });
    var resize = function () { all.forEach(function (c) { c.resize(); }); };
    window.addEventListener('resize', resize);
    window.addEventListener('beforeprint', resize);
    window.addEventListener('afterprint', resize);
  };
  document.head.appendChild(script);
}());
