#!/usr/bin/env node
// Peers of `herald bench templates`: Handlebars.js and LiquidJS render the same
// templates with the same data as Herald (files in this directory), on one
// JavaScript thread, and print renders/s as one JSON object on stdout.
//
//   node bench.js [--dir DIR] [--seconds S] [--rounds R] [--warmup S]
//
// Each engine compiles its template once (outside the timing), renders it
// for --warmup seconds so the JIT settles, then for R rounds of S seconds;
// the figure is the median round. The rendered text is included so the
// caller can check that every engine produced the same output.
//
// Equivalences with Herald: Handlebars escapes HTML by default and the
// e-mail is compiled that way, the SMS with noEscape (Herald: escape html /
// none); LiquidJS renders the e-mail with outputEscape "escape" and the SMS
// without. formatDate (Handlebars helper) and format_date (Liquid filter) use
// Intl.DateTimeFormat with dateStyle in locale "en" and time zone UTC, as
// Herald's ICU formatDate does; like Herald, each keeps the formatters it made.
'use strict';

const fs = require('fs');
const path = require('path');

function parseArgs(argv) {
  const a = { dir: __dirname, seconds: 1, rounds: 3, warmup: 0.5 };
  for (let i = 2; i < argv.length; i++) {
    const k = argv[i];
    const v = argv[i + 1];
    if (k === '--dir') a.dir = v;
    else if (k === '--seconds') a.seconds = Number(v);
    else if (k === '--rounds') a.rounds = Number(v);
    else if (k === '--warmup') a.warmup = Number(v);
    else throw new Error(`unknown argument ${k}`);
    i++;
  }
  if (!(a.seconds > 0) || !(a.rounds >= 1) || !(a.warmup >= 0)) throw new Error('bad --seconds, --rounds or --warmup');
  return a;
}

const LOCALE = 'en';
const TIME_ZONE = 'UTC';
const formatters = new Map();

function formatDate(value, style) {
  const s = typeof style === 'string' ? style : 'medium';
  let f = formatters.get(s);
  if (!f) {
    f = new Intl.DateTimeFormat(LOCALE, { dateStyle: s, timeZone: TIME_ZONE });
    formatters.set(s, f);
  }
  return f.format(new Date(value));
}

function now() {
  return Number(process.hrtime.bigint()) / 1e9;
}

let sink = 0; // keeps the JIT from dropping renders whose result is unused

function runFor(render, seconds) {
  const start = now();
  let n = 0;
  let t = start;
  do {
    for (let i = 0; i < 256; i++) sink += render().length;
    n += 256;
    t = now();
  } while (t - start < seconds);
  return n / (t - start);
}

function measure(render, opts) {
  runFor(render, opts.warmup);
  const rounds = [];
  for (let r = 0; r < opts.rounds; r++) rounds.push(runFor(render, opts.seconds));
  const sorted = rounds.slice().sort((x, y) => x - y);
  return { renders_per_s: sorted[Math.floor(sorted.length / 2)], rounds };
}

function version(dir, pkg) {
  const p = path.join(dir, 'node_modules', pkg, 'package.json');
  return JSON.parse(fs.readFileSync(p, 'utf8')).version;
}

function main() {
  const opts = parseArgs(process.argv);
  const read = (f) => fs.readFileSync(path.join(opts.dir, f), 'utf8');
  const data = { email: JSON.parse(read('email.json')), sms: JSON.parse(read('sms.json')) };

  const Handlebars = require('handlebars');
  const hb = Handlebars.create();
  hb.registerHelper('formatDate', (value, style) => formatDate(value, style));
  const hbt = {
    email: hb.compile(read('email.hbs')),
    sms: hb.compile(read('sms.hbs'), { noEscape: true }),
  };

  const { Liquid } = require('liquidjs');
  const html = new Liquid({ outputEscape: 'escape' });
  const text = new Liquid();
  for (const l of [html, text]) l.registerFilter('format_date', (value, style) => formatDate(value, style));
  const lqt = {
    email: html.parse(read('email.liquid')),
    sms: text.parse(read('sms.liquid')),
  };

  const engines = {
    handlebars: { version: version(opts.dir, 'handlebars'), cases: {} },
    liquidjs: { version: version(opts.dir, 'liquidjs'), cases: {} },
  };
  for (const c of ['email', 'sms']) {
    const d = data[c];
    const renders = {
      handlebars: () => hbt[c](d),
      liquidjs: c === 'email' ? () => html.renderSync(lqt[c], d) : () => text.renderSync(lqt[c], d),
    };
    for (const [name, render] of Object.entries(renders)) {
      const output = render();
      engines[name].cases[c] = { output, ...measure(render, opts) };
    }
  }
  const out = {
    node: process.version,
    v8: process.versions.v8,
    icu: process.versions.icu,
    seconds: opts.seconds,
    rounds: opts.rounds,
    warmup: opts.warmup,
    engines,
    sink: sink > 0,
  };
  process.stdout.write(JSON.stringify(out) + '\n');
}

try {
  main();
} catch (e) {
  process.stderr.write(`bench.js: ${e && e.stack ? e.stack : e}\n`);
  process.exit(1);
}
