// Modal dialogs (<dialog> with showModal: focus moves in, Escape closes, focus returns to the
// button that opened it) and menus of actions (a button with aria-haspopup and a role="menu"
// list operable with the arrow keys, Home, End and Escape).

import { describeError, h } from './dom.js';
import { t } from './i18n.js';

/**
 * A form in a modal dialog. `body`: nodes (labelled fields); `submit(ev)`: runs on submit and
 * resolves to the dialog's result (throwing shows the error in the dialog and keeps it open).
 * Resolves to that result, or null when cancelled.
 */
export function formDialog({ title, body, submitLabel, danger = false, submit, testid = 'dialog' }) {
  const opener = document.activeElement;
  return new Promise((resolve) => {
    const error = h('p', { class: 'error', role: 'alert', 'data-testid': `${testid}-error` });
    const ok = h('button', { type: 'submit', class: danger ? 'danger' : '', 'data-testid': `${testid}-submit` }, submitLabel);
    const cancel = h('button', { type: 'button', class: 'secondary', 'data-testid': `${testid}-cancel` }, t('common.cancel'));
    const heading = h('h2', { id: `${testid}-title` }, title);
    const form = h('form', { method: 'dialog', class: 'stack' }, heading, body, error, h('div', { class: 'row' }, ok, cancel));
    const dialog = h('dialog', { class: 'modal', 'aria-labelledby': `${testid}-title`, 'data-testid': testid }, form);
    let result = null;
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      error.textContent = '';
      ok.disabled = true;
      ok.setAttribute('aria-busy', 'true');
      try {
        result = await submit(ev);
        if (result !== undefined) dialog.close();
      } catch (err) {
        error.textContent = describeError(err);
      } finally {
        ok.disabled = false;
        ok.removeAttribute('aria-busy');
      }
    });
    cancel.addEventListener('click', () => { result = null; dialog.close(); });
    dialog.addEventListener('close', () => {
      dialog.remove();
      if (opener && opener.isConnected) opener.focus();
      resolve(result);
    });
    document.body.append(dialog);
    dialog.showModal();
    (form.querySelector('input, textarea, select') || ok).focus();
  });
}

/** Ask before something that cannot be undone; resolves to true when confirmed. */
export async function confirmDialog({ title, text, confirmLabel, danger = true, testid = 'confirm' }) {
  const done = await formDialog({
    title, body: h('p', {}, text), submitLabel: confirmLabel, danger, testid, submit: async () => true,
  });
  return done === true;
}

/**
 * A "⋯" button opening a menu of `items` ([{label, run, danger?, testid?}]), built when opened
 * (the items may depend on state that changes). `label`: the button's accessible name.
 */
export function menuButton(label, items, { testid = 'menu', text = '⋯' } = {}) {
  const button = h('button', {
    type: 'button', class: 'link small menu-button', 'aria-haspopup': 'menu', 'aria-expanded': 'false',
    'aria-label': label, title: label, 'data-testid': testid,
  }, text);
  const wrap = h('span', { class: 'menu-wrap' }, button);
  let menu = null;

  function close(focusButton = true) {
    if (!menu) return;
    menu.remove();
    menu = null;
    button.setAttribute('aria-expanded', 'false');
    document.removeEventListener('pointerdown', outside, true);
    if (focusButton) button.focus();
  }
  function outside(ev) { if (menu && !wrap.contains(ev.target)) close(false); }

  function open() {
    const entries = (typeof items === 'function' ? items() : items).filter(Boolean);
    if (!entries.length) return;
    const buttons = entries.map((item) => {
      const b = h('button', { type: 'button', role: 'menuitem', tabindex: '-1', class: item.danger ? 'danger-text' : '', 'data-testid': item.testid }, item.label);
      b.addEventListener('click', () => { close(); item.run(); });
      return b;
    });
    menu = h('div', { role: 'menu', class: 'menu', 'aria-label': label }, buttons);
    menu.addEventListener('keydown', (ev) => {
      const i = buttons.indexOf(document.activeElement);
      const keys = { ArrowDown: i + 1, ArrowUp: i - 1, Home: 0, End: buttons.length - 1 };
      if (ev.key in keys) {
        ev.preventDefault();
        buttons[(keys[ev.key] + buttons.length) % buttons.length].focus();
      } else if (ev.key === 'Escape') {
        ev.preventDefault();
        close();
      } else if (ev.key === 'Tab') {
        close(false);
      }
    });
    wrap.append(menu);
    button.setAttribute('aria-expanded', 'true');
    document.addEventListener('pointerdown', outside, true);
    buttons[0].focus();
  }

  button.addEventListener('click', () => (menu ? close() : open()));
  button.addEventListener('keydown', (ev) => {
    if (ev.key === 'ArrowDown' && !menu) { ev.preventDefault(); open(); }
  });
  return wrap;
}
