// Community roles, strongest first (the contract's order).

export const ROLES = ['owner', 'admin', 'moderator', 'member'];
export const STAFF = ['owner', 'admin', 'moderator'];
export const ADMINS = ['owner', 'admin'];

/** Whether `role` is at least `minimum`. */
export function atLeast(role, minimum) {
  const r = ROLES.indexOf(role);
  return r >= 0 && r <= ROLES.indexOf(minimum);
}
