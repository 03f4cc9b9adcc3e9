/**
 * Text into HTML. Class names, file names and messages come from models, data sets and uploads that
 * anyone can make, so every string a written report puts into HTML goes through this one helper
 * (the web page uses DOM textContent instead).
 */
const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** `s` as HTML text or as a quoted attribute value. */
export const escapeHtml = (s: string | number): string => String(s).replace(/[&<>"']/g, (c) => ENTITIES[c]!);
