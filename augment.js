// Types only: see augment.d.ts. Lets `import 'sails-hook-rooms/augment'` load at run time too.
