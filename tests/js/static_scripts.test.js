// Every script of static/gazecrowd/js parses (the browser tests would find it later and slower).
"use strict";
const test = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const vm = require("node:vm");

const DIR = path.join(__dirname, "..", "..", "static", "gazecrowd", "js");
for (const name of fs.readdirSync(DIR).filter((n) => n.endsWith(".js"))) {
  test(`${name} parses`, () => {
    assert.doesNotThrow(() => new vm.Script(fs.readFileSync(path.join(DIR, name), "utf8"), { filename: name }));
  });
}
